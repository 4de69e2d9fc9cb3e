package timeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/internal/timeline"
	"github.com/council/cctv/store"
)

var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

func TestRender_GlyphsGapsHoldsMarks(t *testing.T) {
	a := api.Activity{Camera: "desk", From: t0, To: t0.Add(4 * time.Minute), Step: time.Minute,
		Cells: []api.ActivityCell{
			{Start: t0, Seconds: 60, BytesPerS: 500},
			{Start: t0.Add(time.Minute), Seconds: 60, BytesPerS: 50000},
			{Start: t0.Add(2 * time.Minute)},
			{Start: t0.Add(3 * time.Minute), Seconds: 60, BytesPerS: 5000},
		},
		Gaps:  []store.Gap{{From: t0.Add(2 * time.Minute), To: t0.Add(3 * time.Minute), Reason: "unreachable"}},
		Holds: []api.Hold{{ID: "H-0001", Camera: "desk", From: t0.Add(3 * time.Minute), To: t0.Add(time.Hour), Case: "C-1"}},
		Marks: []api.Mark{{ID: "M-0001", Camera: "desk", At: t0.Add(90 * time.Second), Note: "van"}},
	}
	if g := string(timeline.Glyphs(a)); g != "▁█·▄" {
		t.Errorf("glyphs %q, want ▁█·▄", g)
	}
	if m := string(timeline.Marks(a)); m != " ^ =" {
		t.Errorf("marks %q", m)
	}
	var b strings.Builder
	timeline.Render(&b, a, time.UTC, 60)
	for _, want := range []string{"14:00 ▁█·▄\n       ^ =\n", "no recording 2026-11-22 14:02:00 to 14:03:00 UTC: unreachable", "held H-0001", "bookmark M-0001 at 2026-11-22 14:01:30 UTC: van"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("render lacks %q:\n%s", want, b.String())
		}
	}
}

// Text other users stored (a bookmark's note, a hold's case) cannot move the
// cursor or forge lines on the terminal it is rendered on.
func TestRender_StoredTextEscaped(t *testing.T) {
	a := api.Activity{Camera: "desk", From: t0, To: t0.Add(time.Minute), Step: time.Minute,
		Cells: []api.ActivityCell{{Start: t0, Seconds: 60, BytesPerS: 500}},
		Holds: []api.Hold{{ID: "H-0001", Camera: "desk", From: t0, To: t0.Add(time.Hour), Case: "C-1\nheld H-0002 forged"}},
		Marks: []api.Mark{{ID: "M-0001", Camera: "desk", At: t0, Note: "\x1b[2Jvan"}},
	}
	var b strings.Builder
	timeline.Render(&b, a, time.UTC, 60)
	out := b.String()
	if strings.ContainsAny(out, "\x1b") || strings.Contains(out, "\nheld H-0002") {
		t.Errorf("stored text printed raw:\n%q", out)
	}
	for _, want := range []string{`case C-1\x0aheld H-0002 forged`, `: \x1b[2Jvan`} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%q", want, out)
		}
	}
}
