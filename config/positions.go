package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions records the line on which each key (and each table or array
// element) of a TOML document is first defined. Paths are key parts joined
// by pathSep, with array elements as decimal indices: "camera\x000\x00url".
type positions struct {
	newlines []int          // byte offsets of '\n' in the document
	lines    map[string]int // path → 1-based line
	arrays   map[string]int // array-of-tables path → number of elements so far
	// dups lists keys and table headers defined a second time, for
	// reporting the line of a "key is already defined" error.
	dups []dupKey
}

type dupKey struct {
	path []string
	line int
}

const pathSep = "\x00"

func joinPath(parts ...string) string { return strings.Join(parts, pathSep) }

// indexPositions walks the document's syntax tree. It must only be called
// on a document that decoded successfully; if the parser still fails, the
// positions found so far are kept.
func indexPositions(data []byte) *positions {
	ps := &positions{lines: map[string]int{}, arrays: map[string]int{}}
	for i, c := range data {
		if c == '\n' {
			ps.newlines = append(ps.newlines, i)
		}
	}
	var p unstable.Parser
	p.Reset(data)
	var current []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			parts, line := ps.keyParts(e.Key())
			current = ps.resolve(parts)
			ps.setOrDup(current, line)
		case unstable.ArrayTable:
			parts, line := ps.keyParts(e.Key())
			if len(parts) == 0 {
				continue
			}
			full := append(ps.resolve(parts[:len(parts)-1]), parts[len(parts)-1])
			k := joinPath(full...)
			ps.arrays[k]++
			ps.setIfAbsent(full, line)
			current = append(full, strconv.Itoa(ps.arrays[k]-1))
			ps.setIfAbsent(current, line)
		case unstable.KeyValue:
			ps.keyValue(current, e)
		}
	}
	return ps
}

func (ps *positions) keyValue(base []string, kv *unstable.Node) {
	parts, line := ps.keyParts(kv.Key())
	path := append(append([]string(nil), base...), parts...)
	for i := len(base) + 1; i < len(path); i++ {
		ps.setIfAbsent(path[:i], line)
	}
	ps.setOrDup(path, line)
	ps.value(path, kv.Value(), line)
}

func (ps *positions) value(path []string, v *unstable.Node, line int) {
	if v == nil || !v.Valid() {
		return
	}
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			ps.keyValue(path, it.Node())
		}
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			elem := it.Node()
			l := ps.line(elem.Raw)
			if l == 0 {
				l = line
			}
			p := append(append([]string(nil), path...), strconv.Itoa(i))
			ps.setIfAbsent(p, l)
			ps.value(p, elem, l)
		}
	}
}

// keyParts returns the parts of a (possibly dotted) key and the line of its
// first part.
func (ps *positions) keyParts(it unstable.Iterator) ([]string, int) {
	var parts []string
	line := 0
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = ps.line(n.Raw)
		}
		parts = append(parts, string(n.Data))
	}
	return parts, line
}

// resolve maps a table header key to a path, descending into the last
// element of any array of tables on the way, as TOML does.
func (ps *positions) resolve(parts []string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p)
		if n, ok := ps.arrays[joinPath(out...)]; ok && n > 0 {
			out = append(out, strconv.Itoa(n-1))
		}
	}
	return out
}

func (ps *positions) setIfAbsent(path []string, line int) {
	if line <= 0 {
		return
	}
	k := joinPath(path...)
	if _, ok := ps.lines[k]; !ok {
		ps.lines[k] = line
	}
}

// setOrDup records the line of path, or notes a duplicate definition.
func (ps *positions) setOrDup(path []string, line int) {
	if _, ok := ps.lines[joinPath(path...)]; ok {
		ps.dups = append(ps.dups, dupKey{append([]string(nil), path...), line})
		return
	}
	ps.setIfAbsent(path, line)
}

// line converts a node's byte range to a 1-based line, or 0 if the node
// carries no position.
func (ps *positions) line(r unstable.Range) int {
	if r.Length == 0 {
		return 0
	}
	return sort.SearchInts(ps.newlines, int(r.Offset)) + 1
}

// lineOf returns the line of path, or of its nearest ancestor that has one,
// or 1.
func (ps *positions) lineOf(path ...string) int {
	if ps == nil {
		return 0
	}
	for n := len(path); n > 0; n-- {
		if l, ok := ps.lines[joinPath(path[:n]...)]; ok {
			return l
		}
	}
	return 1
}
