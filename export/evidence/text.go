package evidence

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fields are the free-text fields of an export that people type and that
// end up, verbatim, in the signed README.txt, report and manifest.
type Fields struct {
	Case, Reason, Recipient, Exhibit string
}

// Field length limits, in characters.
const (
	MaxCaseLen      = 100
	MaxExhibitLen   = 50
	MaxReasonLen    = 1000
	MaxRecipientLen = 300
)

// FieldError is a free-text field that was refused.
type FieldError struct {
	Field   string // "case", "reason", "recipient", "exhibit"
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidateFields checks every field and returns all problems (each a
// *FieldError) joined: case, reason and recipient are required; exhibit is
// optional. No field may hold control characters (newlines and tabs
// included), Unicode line or paragraph separators or bidirectional
// formatting characters, which could forge or reorder lines of the signed
// README.txt; nor invalid UTF-8; nor more than its length limit.
func ValidateFields(f Fields) error {
	var errs []error
	check := func(name, v string, max int, required bool) {
		if err := checkText(name, v, max, required); err != nil {
			errs = append(errs, err)
		}
	}
	check("case", f.Case, MaxCaseLen, true)
	check("reason", f.Reason, MaxReasonLen, true)
	check("recipient", f.Recipient, MaxRecipientLen, true)
	check("exhibit", f.Exhibit, MaxExhibitLen, false)
	return errors.Join(errs...)
}

func checkText(name, v string, max int, required bool) error {
	fail := func(format string, args ...any) error {
		return &FieldError{Field: name, Problem: fmt.Sprintf(format, args...)}
	}
	if !utf8.ValidString(v) {
		return fail("not valid UTF-8 text")
	}
	if required && strings.TrimSpace(v) == "" {
		return fail("is required")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fail("%d characters, at most %d allowed", n, max)
	}
	for i, r := range v {
		if forbiddenRune(r) {
			return fail("holds the control character %U at byte %d: type it on one line, without tabs or special characters", r, i)
		}
	}
	if strings.TrimSpace(v) != v {
		return fail("starts or ends with spaces")
	}
	return nil
}

func forbiddenRune(r rune) bool {
	switch {
	case unicode.IsControl(r): // C0, DEL, C1: \n \r \t \x1b …
		return true
	case r == '\u2028' || r == '\u2029': // line and paragraph separators
		return true
	case r == '\u061c' || r == '\u200e' || r == '\u200f': // bidi marks
		return true
	case r >= '\u202a' && r <= '\u202e': // bidi embeddings and overrides
		return true
	case r >= '\u2066' && r <= '\u2069': // bidi isolates
		return true
	case r == '\ufeff':
		return true
	}
	return false
}
