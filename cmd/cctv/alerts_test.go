package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/internal/testutil"
)

// TestStatus_AlertsAppearAndClear runs the daemon in-process on a small
// filesystem with a camera it can stop and a clock it can step, and watches
// status raise and drop each alert.
func TestStatus_AlertsAppearAndClear(t *testing.T) {
	testutil.NeedRoot(t, "it mounts a small tmpfs for a real full disk")

	b := newBox(t)
	mnt := filepath.Join(b.dir, "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		testutil.Missing(t, "cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	cam, err := b.cams.AddCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(b.cfgPath)
	text := strings.Replace(string(raw), filepath.Join(b.dir, "data"), filepath.Join(mnt, "data"), 1)
	text += "\n[[camera]]\nid = \"desk\"\nurl = \"" + b.cams.URL("desk") + "\"\n"
	if err := os.WriteFile(b.cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	b.setConfig(`min_free = "20%"
retention = "10s"
deletion_interval = "1s"
stall_timeout = "2s"`)
	b.mustRun("init")
	clk := &clock.Shifted{}
	b.runDaemon(daemon.Options{Clock: clk, Alerts: daemon.AlertTiming{CameraDownAfter: 2 * time.Second, ClockJumpFor: 5 * time.Second}})
	alerts := func() string {
		_, out, _ := b.run("status", "--json")
		var st api.Status
		if json.Unmarshal([]byte(out), &st) != nil {
			return "(no status)"
		}
		return strings.Join(st.Alerts, "\n")
	}
	expect := func(what, substr string, present bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			a := alerts()
			if strings.Contains(a, substr) == present {
				return
			}
			if time.Now().After(deadline) {
				_, st, _ := b.run("status", "--json")
				t.Fatalf("timed out waiting for %s; status:\n%s", what, st)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitUntil(t, "recording", 30*time.Second, func() bool {
		_, out, _ := b.run("status", "--json")
		var st api.Status
		return json.Unmarshal([]byte(out), &st) == nil && len(st.Cameras) == 1 && st.Cameras[0].Segments >= 1
	})
	if a := alerts(); a != "" {
		t.Fatalf("alerts on a healthy box: %s", a)
	}

	cam.Stop()
	expect("the camera-down alert", "camera desk down", true)
	cam.Start()
	expect("the camera-down alert to clear", "camera desk down", false)
	waitUntil(t, "recording again", 30*time.Second, func() bool {
		_, out, _ := b.run("status", "--json")
		var st api.Status
		return json.Unmarshal([]byte(out), &st) == nil && len(st.Cameras) == 1 &&
			st.Cameras[0].State == "recording" && st.Cameras[0].LastFrameAgeS < 1
	})

	clk.Shift(10 * time.Second)
	expect("the clock-jump alert", "the box clock jumped", true)
	expect("the clock-jump alert to clear", "the box clock jumped", false)

	free, total, err := fsutil.FreeSpace(mnt)
	if err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, int64(free)-int64(float64(total)*0.1)), 0o600); err != nil {
		t.Fatal(err)
	}
	expect("the disk-pressure alert", "disk pressure", true)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	expect("the disk-pressure alert to clear", "disk pressure:", false)
}
