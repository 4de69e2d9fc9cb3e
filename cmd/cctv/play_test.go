package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/internal/testutil"
)

// play --out - streams a window across segments and an outage: the stream
// decodes without a single ffmpeg message, holds every frame recorded in
// the window, names the outage in its subtitles next to the site time, and
// is audited as a view (start, and end with how long it was watched), never
// as a disclosure.
func TestPlay_OutAcrossOutage_DecodesCoversWindowAuditedAsView(t *testing.T) {
	testutil.NeedTool(t, "ffmpeg")
	b := newBox(t)
	cam, err := b.cams.AddCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	if err != nil {
		t.Fatal(err)
	}
	b.addCamera("desk")
	b.runDaemon(daemon.Options{})
	waitUntil(t, "a first segment", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 1
	})
	cam.Stop()
	waitUntil(t, "the outage on record", 30*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras[0].Gaps) > 0
	})
	time.Sleep(2 * time.Second) // a hole long enough to be a card, not jitter
	cam.Start()
	var segsAfter int
	waitUntil(t, "footage after the outage", 60*time.Second, func() bool {
		l := b.list(false).Cameras[0]
		segsAfter = 0
		for _, s := range l.Segments {
			if s.Start.After(l.Gaps[0].From) {
				segsAfter++
			}
		}
		return segsAfter >= 1
	})
	l := b.list(false).Cameras[0]
	from, to := l.Segments[0].Start, l.Segments[len(l.Segments)-1].End
	var frames int64
	for _, s := range l.Segments {
		frames += s.Frames
	}
	code, stream, stderr := b.run("play", "--camera", "desk", "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano),
		"--reason", "incident 42", "--out", "-")
	if code != 0 {
		t.Fatalf("play: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "no recording") {
		t.Errorf("play did not name the outage on stderr: %s", stderr)
	}
	path := filepath.Join(t.TempDir(), "play.mkv")
	if err := os.WriteFile(path, []byte(stream), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput(); len(out) > 0 {
		t.Errorf("ffmpeg reports on the play stream: %s", out)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimRight(string(out), ",\n")), 10, 64); n != frames {
		t.Errorf("stream holds %d frames, the segments %d", n, frames)
	}
	subs, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:s", "-f", "srt", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(subs), "NO RECORDING") || !strings.Contains(string(subs), from.In(time.Local).Format("2006-01-02")) {
		t.Errorf("subtitles lack the outage card or the site date:\n%.600s", subs)
	}
	var starts, ends, disclosures int
	for _, e := range b.auditEntries() {
		switch {
		case e.Action == "view" && e.Params["kind"] == "play":
			if e.Params["reason"] != "incident 42" || e.Params["camera"] != "desk" {
				t.Errorf("view entry %+v", e.Params)
			}
			switch e.Params["phase"] {
			case "start":
				starts++
			case "end":
				ends++
				if e.Params["watched"] == "" || e.Params["frames"] != strconv.FormatInt(frames, 10) {
					t.Errorf("end of view %+v: want watched and %d frames", e.Params, frames)
				}
			}
		case e.Action == "export" || e.Action == "still":
			disclosures++
		}
	}
	if starts != 1 || ends != 1 || disclosures != 0 {
		t.Errorf("%d view starts, %d view ends, %d disclosures; want 1, 1, 0", starts, ends, disclosures)
	}
	// The player Debian ships plays it for real through `--player mpv`,
	// with null outputs (no screen here): a config in MPV_HOME, and a
	// DISPLAY so that cctv does not ask for the console's screen (--vo=drm).
	testutil.NeedTool(t, "mpv")
	mpvHome := t.TempDir()
	if err := os.WriteFile(filepath.Join(mpvHome, "mpv.conf"), []byte("vo=null\nao=null\nuntimed=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MPV_HOME", mpvHome)
	t.Setenv("DISPLAY", ":99")
	if code, _, stderr := b.run("play", "--camera", "desk", "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano),
		"--player", "mpv"); code != 0 {
		t.Errorf("play --player mpv: exit %d: %s", code, stderr)
	}
	// A recording altered after it was sealed is not shown: the stream stops
	// before it, and the end of the view says why.
	last := l.Segments[len(l.Segments)-1]
	f, err := os.OpenFile(last.File, os.O_RDWR, 0) // list gives the absolute path
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x47, 0x1f, 0xff, 0x10}, 188*10); err != nil { // a null packet over a video one
		t.Fatal(err)
	}
	f.Close()
	code, _, stderr = b.run("play", "--camera", "desk", "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano), "--out", "-")
	if code != 1 || !strings.Contains(stderr, "cut the stream") {
		t.Errorf("play over a tampered segment: exit %d: %s", code, stderr)
	}
	waitUntil(t, "the tampered play's end audited", 10*time.Second, func() bool {
		for _, e := range b.auditEntries() {
			if e.Action == "view" && e.Params["phase"] == "end" && strings.Contains(e.Params["error"], "does not match its seal") {
				return true
			}
		}
		return false
	})
	var disc []json.RawMessage
	if err := json.Unmarshal([]byte(b.mustRun("audit", "list", "--action", "export", "--json")), &disc); err != nil || len(disc) != 0 {
		t.Errorf("disclosure log after a play: %d entries (%v)", len(disc), err)
	}
}
