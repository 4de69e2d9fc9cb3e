package evidence

import (
	"fmt"
	"slices"
	"strings"
)

// Sum is one line of SHA256SUMS.
type Sum struct {
	SHA256 string // lower-case hex
	Path   string // slash-separated, relative to the package
}

// FormatSums returns SHA256SUMS: one "<sha256>  <path>\n" line per file,
// sorted by path, in the format `sha256sum -c` reads (text mode, two
// spaces). Paths must be valid package paths (no backslash or newline, which
// sha256sum would escape).
func FormatSums(sums []Sum) []byte {
	s := slices.Clone(sums)
	slices.SortFunc(s, func(a, b Sum) int { return strings.Compare(a.Path, b.Path) })
	var b strings.Builder
	for _, x := range s {
		fmt.Fprintf(&b, "%s  %s\n", x.SHA256, x.Path)
	}
	return []byte(b.String())
}

// ParseSums reads SHA256SUMS as FormatSums writes it. Any other line (a
// comment, a binary-mode '*', an escaped name, upper-case hex, a missing
// final newline) is an error naming the line, as `sha256sum --strict` fails
// on it.
func ParseSums(b []byte) ([]Sum, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty")
	}
	if b[len(b)-1] != '\n' {
		return nil, fmt.Errorf("the last line does not end in a newline")
	}
	var out []Sum
	for n, line := range strings.Split(string(b[:len(b)-1]), "\n") {
		sum, p, ok := strings.Cut(line, "  ")
		if !ok || !isHex64(sum) || !validRel(p) {
			return nil, fmt.Errorf("line %d is not \"<sha256>  <file>\"", n+1)
		}
		out = append(out, Sum{SHA256: sum, Path: p})
	}
	return out, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
