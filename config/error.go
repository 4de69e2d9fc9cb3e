package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File string // path of the file, as given to Load or Parse
	Line int    // 1-based line of the offending key; 0 when it concerns the whole file
	Key  string // dotted key such as "retention" or "camera.url"; may be empty
	Msg  string // what is wrong, lowercase, without a final period
	Hint string // what to do about it; may be empty
}

// Error formats the problem as "file:line: key: msg" (omitting the parts that
// are empty or zero). The hint is not included; see Error.Error.
func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is returned by Load, Parse, Validate and CheckCameraHosts. It holds
// every problem found, ordered by line. Callers tell a configuration error
// (exit code 2) from other failures with errors.As.
//
// An unreadable file is also reported as an *Error (with one Problem whose
// Line is 0); the underlying I/O error is reachable with errors.Is, for
// example errors.Is(err, fs.ErrNotExist).
type Error struct {
	Problems []Problem
	err      error // underlying I/O error, if any
}

// Error prints one problem per line. A problem with a hint is followed by
// "; " and the hint, so that the message says what to do even when a caller
// prints it as is.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
		if p.Hint != "" {
			b.WriteString("; ")
			b.WriteString(p.Hint)
		}
	}
	return b.String()
}

// Unwrap returns each problem as an error, plus the underlying I/O error
// when the file could not be read.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, len(e.Problems)+1)
	for _, p := range e.Problems {
		errs = append(errs, p)
	}
	if e.err != nil {
		errs = append(errs, e.err)
	}
	return errs
}

// problems collects problems while decoding or validating.
type problems struct {
	file string
	list []Problem
}

func (ps *problems) add(line int, key, hint, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// err returns nil when there are no problems, or an *Error with the problems
// sorted by line (stable, so problems on one line keep their order).
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	return &Error{Problems: list}
}
