package compare

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Table is a titled grid of cells, written as Markdown, CSV and HTML.
type Table struct {
	Name    string // file stem of its CSV: "runs", "fc1_x"
	Title   string
	Note    string // one line under the title
	Columns []Column
	Rows    [][]Cell
}

// Column is a table heading: Title for people (Markdown, HTML), Key for machines (CSV).
type Column struct {
	Title, Key string
}

// Cell is text, or a number summarised over a group's runs.
type Cell struct {
	Text string
	Stat *Stat
	// Limited counts the runs whose value is rank-limited (a κ divided by round-off): they
	// are left out of Stat, and a cell with no other value reads "rank-limited".
	Limited int
}

// TextCell returns a text cell.
func TextCell(s string) Cell { return Cell{Text: s} }

// NumCell returns the cell of a single value (NaN for none).
func NumCell(v float64) Cell {
	s := Summarize([]float64{v})
	return Cell{Stat: &s}
}

// StatCell returns the cell of a group's values.
func StatCell(vs []float64) Cell {
	s := Summarize(vs)
	return Cell{Stat: &s}
}

// limitedCell returns the cell of a group's values of which limited more were rank-limited.
func limitedCell(vs []float64, limited int) Cell {
	c := StatCell(vs)
	c.Limited = limited
	return c
}

// rankLimitedText stands in tables for a κ that is a quotient by round-off.
const rankLimitedText = "rank-limited"

// String renders the cell for people: "1.234e+05", "0.912 ± 0.004" for a group of several,
// "+Inf", "rank-limited", or "–" when there is no value.
func (c Cell) String() string {
	if c.Stat == nil {
		return c.Text
	}
	s := c.Stat
	switch {
	case s.N == 0 && c.Limited > 0:
		return rankLimitedText
	case s.N == 0:
		return "–"
	}
	out := fmtNum(s.Mean)
	if s.N > 1 && !math.IsNaN(s.Std) {
		out += " ± " + fmtNum(s.Std)
	}
	if c.Limited > 0 {
		out += fmt.Sprintf(" (%d more %s)", c.Limited, rankLimitedText)
	}
	return out
}

// fmtNum prints v with four significant digits.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e6:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// csvNum prints v exactly, with JSON's spellings for non-finite values, "" for NaN (missing).
func csvNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return ""
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// hasSpread reports whether column j holds a number summarised over more than one run in
// some row; such a column gets a standard-deviation column beside it in CSV.
func (t *Table) hasSpread(j int) bool {
	for _, r := range t.Rows {
		if j < len(r) && r[j].Stat != nil && r[j].Stat.N > 1 {
			return true
		}
	}
	return false
}

// Markdown renders t as a GitHub-flavoured Markdown table under a level-3 heading.
func (t *Table) Markdown() string {
	var b strings.Builder
	if t.Title != "" {
		b.WriteString("### " + t.Title + "\n\n")
	}
	if t.Note != "" {
		b.WriteString(t.Note + "\n\n")
	}
	esc := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	b.WriteString("|")
	for _, c := range t.Columns {
		b.WriteString(" " + esc(c.Title) + " |")
	}
	b.WriteString("\n|")
	for j := range t.Columns {
		if t.numeric(j) {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("|")
		for j := range t.Columns {
			s := ""
			if j < len(r) {
				s = r[j].String()
			}
			b.WriteString(" " + esc(s) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (t *Table) numeric(j int) bool {
	for _, r := range t.Rows {
		if j < len(r) && r[j].Stat != nil {
			return true
		}
	}
	return false
}

// CSV renders t with one header line of column keys. Numbers are written exactly (group
// means for groups); a column holding groups of several runs is followed by "<key>_std", the
// sample standard deviation, and "<key>_n", the number of runs with a value.
func (t *Table) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	var head []string
	spread := make([]bool, len(t.Columns))
	for j, c := range t.Columns {
		head = append(head, c.Key)
		if spread[j] = t.hasSpread(j); spread[j] {
			head = append(head, c.Key+"_std", c.Key+"_n")
		}
	}
	w.Write(head)
	for _, r := range t.Rows {
		var rec []string
		for j := range t.Columns {
			var c Cell
			if j < len(r) {
				c = r[j]
			}
			if c.Stat == nil {
				rec = append(rec, c.Text)
				if spread[j] {
					rec = append(rec, "", "")
				}
				continue
			}
			if c.Stat.N == 0 && c.Limited > 0 {
				rec = append(rec, rankLimitedText)
			} else {
				rec = append(rec, csvNum(c.Stat.Mean))
			}
			if spread[j] {
				std := c.Stat.Std
				if c.Stat.N < 2 {
					std = math.NaN()
				}
				rec = append(rec, csvNum(std), strconv.Itoa(c.Stat.N))
			}
		}
		w.Write(rec)
	}
	w.Flush()
	return b.Bytes()
}
