// Package termtext makes text that users stored (reasons, case names,
// bookmark notes, audit parameters) safe to print on another user's
// terminal.
package termtext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Esc makes stored text (a reason, a case, an audit parameter) safe to print
// on a terminal: control characters, line breaks and bidirectional
// formatting characters are shown as escapes, so that text typed by one
// user can never forge lines or move the cursor on another's screen.
func Esc(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			if r < 0x100 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) ||
		r == '\u2028' || r == '\u2029' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}
