// Package results writes and reads a run directory's files so that no reader ever sees a
// half-written file or line, whatever point a crash comes at.
//
// Whole files (config.yaml, summary.json) are written to a temporary file in the same
// directory, synced and renamed over the target. Record streams (metrics.jsonl,
// conditioning.jsonl) are appended one complete line per write call and synced at flush
// points; a reader ignores a final line that has no newline, and Truncate cuts it off before
// an append resumes.
//
//	w, _ := results.OpenLog(filepath.Join(dir, "metrics.jsonl"))
//	w.Append(record)                  // any JSON-marshalable value
//	w.Sync()
//	results.WriteFile(filepath.Join(dir, "summary.json"), data)
package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile replaces path atomically with data: readers see the old file or the new one,
// never a mixture.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	SyncDir(dir)
	return nil
}

// Overwrite writes data over the existing file path in place, without truncating it first,
// so that it reuses the file's blocks: the way to record a final status on a full disk, where
// WriteFile has no room for its temporary copy. Unlike WriteFile it is not atomic.
func Overwrite(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	_, err = f.WriteAt(data, 0)
	err = errors.Join(err, f.Truncate(int64(len(data))), f.Sync(), f.Close())
	if err != nil {
		return fmt.Errorf("results: writing %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes v as indented JSON atomically.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("results: encoding %s: %w", path, err)
	}
	return WriteFile(path, append(data, '\n'))
}

// SyncDir makes renames and creations in dir durable; best effort, as some file systems cannot
// sync a directory.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Log is an append-only JSON-lines file.
type Log struct {
	path string
	f    *os.File
	line bytes.Buffer
}

// OpenLog opens (creating if needed) a JSON-lines file for appending. A trailing partial line
// left by a crash is cut off first.
func OpenLog(path string) (*Log, error) {
	if err := Truncate(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	return &Log{path: path, f: f}, nil
}

// Path is the file's path.
func (l *Log) Path() string { return l.path }

// Append writes v as one JSON line with a single write call.
func (l *Log) Append(v any) error {
	l.line.Reset()
	enc := json.NewEncoder(&l.line)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode ends the line with '\n'
		return fmt.Errorf("results: encoding a record for %s: %w", l.path, err)
	}
	if _, err := l.f.Write(l.line.Bytes()); err != nil {
		return fmt.Errorf("results: appending to %s: %w", l.path, err)
	}
	return nil
}

// Sync flushes the file to stable storage.
func (l *Log) Sync() error {
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("results: syncing %s: %w", l.path, err)
	}
	return nil
}

// Close syncs and closes the file.
func (l *Log) Close() error {
	err := l.Sync()
	if cerr := l.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("results: closing %s: %w", l.path, cerr)
	}
	return err
}

// Truncate cuts a JSON-lines file after its last complete line.
func Truncate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size == 0 {
		return err
	}
	// Scan back for the last newline.
	buf := make([]byte, 4096)
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return fmt.Errorf("results: reading %s: %w", path, err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep := end - n + int64(i) + 1
			if keep == size {
				return nil
			}
			return f.Truncate(keep)
		}
		end -= n
	}
	return f.Truncate(0)
}

// ReadLog calls fn with every complete line of a JSON-lines file, in order. A final line
// without a newline (a write cut short) is skipped.
func ReadLog(path string, fn func(line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("results: reading %s: %w", path, err)
		}
		if err := fn(line[:len(line)-1]); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
}
