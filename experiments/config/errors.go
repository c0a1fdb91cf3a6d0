package config

import "strings"

// Problem is one defect found in a configuration.
type Problem struct {
	// Pos says where the offending value came from: "file.yaml:12" for a
	// key in a file, "--set optim.lr=-1" for an override, or "" when the
	// value is a default or the configuration was built in Go.
	Pos string

	// Field is the dotted path of the value, such as "optim.schedule.gamma"
	// or "analysis.p[2]"; "" for the document as a whole.
	Field string

	// Msg says what is wrong and what was expected.
	Msg string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Pos != "" {
		b.WriteString(p.Pos)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error holds every problem found in a configuration, in the order they
// were found: decoding problems in document order, then range checks in
// field order.
type Error struct {
	// File is the configuration file name, used as the position of
	// problems that have no better one. Empty for Validate.
	File     string
	Problems []Problem
}

// Error returns the problems one per line.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Pos == "" && e.File != "" {
			p.Pos = e.File
		}
		b.WriteString(p.String())
	}
	return b.String()
}
