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
	cam, err := b.cams.AddCamera(synthcam.CameraConfig{Path: "yard", Codec: media.H264, FPS: 25, GOP: 25, ClipFrames: 250, StillFrames: 125})
	if err != nil {
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
	// Which frame of the loop the camera sent at each second: it sends 25
	// a second, so frame n went out (now - n)/25 s ago.
	now, sent := time.Now(), cam.FramesSent()
	var rates, still, moving []int64
	for _, c := range a.Cells {
		if c.Seconds == 0 {
			continue
		}
		rates = append(rates, c.BytesPerS)
		n := sent - int64(now.Sub(c.Start.Add(500*time.Millisecond)).Seconds()*25)
		switch p := n % 250; {
		case p >= 25 && p < 100: // well inside the still phase (frames 0-124)
			still = append(still, c.BytesPerS)
		case p >= 150 && p < 225: // well inside the moving phase
			moving = append(moving, c.BytesPerS)
		}
	}
	mean := func(v []int64) int64 {
		var s int64
		for _, x := range v {
			s += x
		}
		return s / int64(max(len(v), 1))
	}
	if len(still) == 0 || len(moving) == 0 || mean(moving) < 4*mean(still) {
		t.Errorf("seconds of motion %v (mean %d bytes/s), still seconds %v (mean %d): want motion at least 4 times higher",
			moving, mean(moving), still, mean(still))
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
	t.Logf("moving seconds %v, still seconds %v (bytes/s of predicted frames)", moving, still)
	text := b.mustRun("activity", "--camera", "yard", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--step", "1s")
	if !strings.Contains(text, "▁") || !strings.Contains(text, "█") || !strings.Contains(text, "^") || !strings.Contains(text, "van arrives") {
		t.Errorf("activity strip lacks quiet and busy cells or the bookmark:\n%s", text)
	}
	t.Logf("activity:\n%s", text)
}
