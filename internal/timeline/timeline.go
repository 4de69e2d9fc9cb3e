// Package timeline draws a camera's activity over time as text: a strip of
// block characters, one cell per step, with gaps, holds and bookmarks
// marked, for `cctv activity` and `cctv review`.
package timeline

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/internal/termtext"
)

// Cell glyphs: activity from least to most, and no footage.
var (
	levels  = []rune("▁▂▃▄▅▆▇█")
	noImage = '·'
)

// Marks under the strip.
const (
	markBookmark = '^'
	markHeld     = '='
)

// Glyphs returns one rune per cell: the activity on a log scale between the
// quietest and the busiest cell of a (▁ to █), or · where nothing was
// recorded.
func Glyphs(a api.Activity) []rune {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, c := range a.Cells {
		if c.Seconds > 0 {
			v := math.Log2(float64(c.BytesPerS) + 1)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	out := make([]rune, len(a.Cells))
	for i, c := range a.Cells {
		if c.Seconds == 0 {
			out[i] = noImage
			continue
		}
		k := 0
		if hi > lo {
			v := math.Log2(float64(c.BytesPerS) + 1)
			k = int(math.Round((v - lo) / (hi - lo) * float64(len(levels)-1)))
		}
		out[i] = levels[k]
	}
	return out
}

// Marks returns one rune per cell for the line under the strip: ^ where a
// bookmark falls, = where a hold covers the cell, else a space.
func Marks(a api.Activity) []rune {
	out := []rune(strings.Repeat(" ", len(a.Cells)))
	for i, c := range a.Cells {
		end := c.Start.Add(a.Step)
		for _, h := range a.Holds {
			if h.From.Before(end) && h.To.After(c.Start) {
				out[i] = markHeld
			}
		}
		for _, m := range a.Marks {
			if !m.At.Before(c.Start) && m.At.Before(end) {
				out[i] = markBookmark
			}
		}
	}
	return out
}

// Render writes a as rows of perRow cells, each labelled with its first
// cell's site time, then the gaps, holds and bookmarks of the window.
func Render(w io.Writer, a api.Activity, loc *time.Location, perRow int) {
	if perRow <= 0 {
		perRow = 60
	}
	layout, head := "15:04", "2006-01-02 15:04 MST"
	if a.Step < time.Minute {
		layout, head = "15:04:05", "2006-01-02 15:04:05 MST"
	}
	fmt.Fprintf(w, "camera %s, %s to %s, one cell per %s: %s quiet … %s busy, %c nothing recorded; %c bookmark, %c held\n",
		a.Camera, a.From.In(loc).Format(head), a.To.In(loc).Format(head), a.Step,
		string(levels[0]), string(levels[len(levels)-1]), noImage, markBookmark, markHeld)
	g, m := Glyphs(a), Marks(a)
	if a.To.Sub(a.From) > 24*time.Hour {
		layout = "01-02 " + layout
	}
	for i := 0; i < len(g); i += perRow {
		j := min(i+perRow, len(g))
		label := a.Cells[i].Start.In(loc).Format(layout)
		fmt.Fprintf(w, "%s %s\n", label, string(g[i:j]))
		if line := strings.TrimRight(string(m[i:j]), " "); line != "" {
			fmt.Fprintf(w, "%s %s\n", strings.Repeat(" ", len(label)), line)
		}
	}
	for _, gp := range a.Gaps {
		if gp.Ongoing {
			fmt.Fprintf(w, "no recording: down since %s, ongoing: %s\n", gp.From.In(loc).Format("2006-01-02 15:04:05 MST"), termtext.Esc(gp.Reason))
			continue
		}
		fmt.Fprintf(w, "no recording %s to %s: %s\n", gp.From.In(loc).Format("2006-01-02 15:04:05"), gp.To.In(loc).Format("15:04:05 MST"), termtext.Esc(gp.Reason))
	}
	for _, h := range a.Holds {
		fmt.Fprintf(w, "held %s %s to %s: case %s\n", h.ID, h.From.In(loc).Format("2006-01-02 15:04"), h.To.In(loc).Format("2006-01-02 15:04 MST"), termtext.Esc(h.Case))
	}
	for _, mk := range a.Marks {
		fmt.Fprintf(w, "bookmark %s at %s: %s\n", mk.ID, mk.At.In(loc).Format("2006-01-02 15:04:05 MST"), termtext.Esc(mk.Note))
	}
}
