package termtext

import "testing"

func TestEsc(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, café":                      "plain text, café",
		"two\nlines":                            `two\x0alines`,
		"\x1b[31mred\x1b[0m":                    `\x1b[31mred\x1b[0m`,
		"tab\there":                             `tab\x09here`,
		"bidi \u202eevil":                       `bidi \u202eevil`,
		"line\u2028separator":                   `line\u2028separator`,
		"bad \xff byte":                         `bad \xff byte`,
		"     1  forged audit line\r":           `     1  forged audit line\x0d`,
		"replacement \uFFFD is kept as it is":   "replacement \uFFFD is kept as it is",
		"\u0085next line (C1 control) is shown": `\x85next line (C1 control) is shown`,
	} {
		if got := Esc(in); got != want {
			t.Errorf("Esc(%q) = %q, want %q", in, got, want)
		}
	}
}
