package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/store"
)

// activity answers how much moved in a camera's picture over a window, cell
// by cell, from the index kept while recording (nothing is decoded), with
// the gaps, holds and bookmarks of the window.
func (s *service) activity(_ context.Context, _ api.Caller, a api.ActivityRequest) (any, error) {
	if _, err := s.cameras(a.Camera); err != nil {
		return nil, err
	}
	if a.Step == 0 {
		a.Step = time.Minute
	}
	if a.Step < time.Second || a.Step%time.Second != 0 {
		return nil, badInput("the activity step must be whole seconds", "e.g. --step 1m or --step 10s")
	}
	if !a.To.After(a.From) {
		return nil, badInput("--to must be after --from")
	}
	n := int((a.To.Sub(a.From) + a.Step - 1) / a.Step)
	if n > api.MaxActivityCells {
		return nil, badInput(fmt.Sprintf("%d cells; at most %d", n, api.MaxActivityCells), "use a longer --step or a shorter window")
	}
	segs, err := s.st.Activity(a.Camera, a.From, a.To)
	if err != nil {
		return nil, err
	}
	out := api.Activity{Camera: a.Camera, From: a.From, To: a.To, Step: a.Step, Cells: make([]api.ActivityCell, n),
		Holds: []api.Hold{}, Marks: []api.Mark{}}
	sums := make([]int64, n)
	for i := range out.Cells {
		out.Cells[i].Start = a.From.Add(time.Duration(i) * a.Step)
	}
	for _, sa := range segs {
		for j, lv := range sa.Levels {
			at := sa.Start.Add(time.Duration(j) * time.Second)
			if at.Before(a.From) || !at.Before(a.To) {
				continue
			}
			c := &out.Cells[int(at.Sub(a.From)/a.Step)]
			b := store.ActivityBytes(lv)
			c.Seconds++
			sums[int(at.Sub(a.From)/a.Step)] += b
			c.PeakBytesPerS = max(c.PeakBytesPerS, b)
		}
	}
	for i := range out.Cells {
		if c := &out.Cells[i]; c.Seconds > 0 {
			c.BytesPerS = sums[i] / int64(c.Seconds)
		}
	}
	if out.Gaps, err = s.missing(a.Camera, a.From, a.To); err != nil {
		return nil, err
	}
	if out.Gaps == nil {
		out.Gaps = []store.Gap{}
	}
	holds, err := s.st.Holds(false)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, h := range holds {
		if h.Covers(a.Camera, a.From, a.To) {
			out.Holds = append(out.Holds, holdOut(h, now))
		}
	}
	marks, err := s.st.Marks(a.Camera, a.From, a.To)
	if err != nil {
		return nil, err
	}
	for _, m := range marks {
		out.Marks = append(out.Marks, markOut(m))
	}
	return out, nil
}
