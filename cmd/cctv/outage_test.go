package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
)

// A dead camera is visible while it is dead: status names it (exit 1) with
// the outage's start, which stays put through every reconnection attempt,
// and list shows the outage as an ongoing gap.
func TestOutage_DeadCamera_DownSinceItsStartAndOngoingGap(t *testing.T) {
	b := newBox(t)
	cam, err := b.cams.AddCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	if err != nil {
		t.Fatal(err)
	}
	b.addCamera("desk")
	b.runDaemon(daemon.Options{Alerts: daemon.AlertTiming{CameraDownAfter: 10 * time.Second}})
	cfg, err := config.Load(b.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	status := func() (int, api.Status) {
		code, out, _ := b.run("status", "--json")
		var st api.Status
		_ = json.Unmarshal([]byte(out), &st)
		return code, st
	}
	waitUntil(t, "recording", 60*time.Second, func() bool {
		_, st := status()
		return len(st.Cameras) == 1 && st.Cameras[0].State == "recording" && st.Cameras[0].Segments >= 1
	})
	stopped := time.Now()
	cam.Stop()

	// Past the alert threshold, through several reconnection attempts
	// (backoff 1 s, 2 s, 4 s, 8 s …), the outage keeps its start.
	var first time.Time
	deadline := time.Now().Add(25 * time.Second)
	polls := 0
	for time.Now().Before(deadline) {
		_, st := status()
		if len(st.Cameras) == 1 && !st.Cameras[0].DownSince.IsZero() {
			ds := st.Cameras[0].DownSince
			if first.IsZero() {
				first = ds
			} else if !ds.Equal(first) {
				t.Fatalf("down since moved from %s to %s (state %s)", first, ds, st.Cameras[0].State)
			}
			polls++
		}
		time.Sleep(500 * time.Millisecond)
	}
	if polls < 10 || first.Before(stopped.Add(-3*time.Second)) || first.After(stopped.Add(12*time.Second)) {
		t.Fatalf("%d polls showed down_since %s; the camera stopped at %s", polls, first, stopped)
	}
	code, st := status()
	alerts := strings.Join(st.Alerts, "\n")
	want := "camera desk"
	if code != 1 || !strings.Contains(alerts, want) || !strings.Contains(alerts, localTime(first, cfg.Location)) {
		t.Errorf("status after 25 s dead: exit %d, alerts:\n%s\n(want %q since %s)", code, alerts, want, localTime(first, cfg.Location))
	}
	_, text, _ := b.run("status")
	if !strings.Contains(text, "down since "+localTime(first, cfg.Location)) {
		t.Errorf("status text does not say down since the outage's start:\n%s", text)
	}
	l := b.list(false).Cameras[0]
	if n := len(l.Gaps); n == 0 || !l.Gaps[n-1].Ongoing || !l.Gaps[n-1].From.Equal(first) {
		t.Errorf("list gaps %+v: want the ongoing outage from %s last", l.Gaps, first)
	}
	_, listText, _ := b.run("list", "--from", first.Add(-time.Minute).Format(time.RFC3339), "--to", time.Now().Add(time.Minute).Format(time.RFC3339))
	if !strings.Contains(listText, "now, ongoing") {
		t.Errorf("list text does not show the ongoing outage:\n%s", listText)
	}
}

// addCamera adds a [[camera]] for the synthetic camera at path id.
func (b *box) addCamera(id string) {
	b.t.Helper()
	raw, err := os.ReadFile(b.cfgPath)
	if err != nil {
		b.t.Fatal(err)
	}
	text := string(raw) + "\n[[camera]]\nid = \"" + id + "\"\nurl = \"" + b.cams.URL(id) + "\"\n"
	if err := os.WriteFile(b.cfgPath, []byte(text), 0o644); err != nil {
		b.t.Fatal(err)
	}
}
