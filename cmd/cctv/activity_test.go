package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
)

// A camera whose scene stands still for 5 s, then moves for 5 s, over and
// over: the activity index, kept while recording, is several times higher
// in the moving seconds than in the still ones, and the strip shows both,
// with a bookmark marked.
func TestActivity_StillThenMoving_HigherWhenMoving(t *testing.T) {
	b := newBox(t)
	if _, err := b.cams.AddCamera(synthcam.CameraConfig{Path: "yard", Codec: media.H264, FPS: 25, GOP: 25, ClipFrames: 250, StillFrames: 125}); err != nil {
		t.Fatal(err)
	}
	b.addCamera("yard")
	b.runDaemon(daemon.Options{})
	waitUntil(t, "three segments", 90*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 3
	})
	segs := b.list(false).Cameras[0].Segments
	from, to := segs[0].Start.Truncate(time.Second).Add(time.Second), segs[2].End.Truncate(time.Second)
	b.mustRun("mark", "add", "--camera", "yard", "--at", from.Add(3*time.Second).Format(time.RFC3339), "--note", "van arrives")
	var a api.Activity
	out := b.mustRun("activity", "--camera", "yard", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--step", "1s", "--json")
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	var rates []int64
	for _, c := range a.Cells {
		if c.Seconds > 0 {
			rates = append(rates, c.BytesPerS)
		}
	}
	if len(rates) < 12 {
		t.Fatalf("%d seconds with activity in %s of footage: %s", len(rates), to.Sub(from), out)
	}
	slices.Sort(rates)
	third := len(rates) / 3
	var low, high int64
	for _, r := range rates[:third] {
		low += r
	}
	for _, r := range rates[len(rates)-third:] {
		high += r
	}
	if high < 4*low || high == 0 {
		t.Errorf("moving seconds average %d bytes/s of predicted frames, still ones %d: want at least 4 times more", high/int64(third), low/int64(third))
	}
	text := b.mustRun("activity", "--camera", "yard", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--step", "1s")
	if !strings.Contains(text, "▁") || !strings.Contains(text, "█") || !strings.Contains(text, "^") || !strings.Contains(text, "van arrives") {
		t.Errorf("activity strip lacks quiet and busy cells or the bookmark:\n%s", text)
	}
	t.Logf("activity:\n%s", text)
}
