package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/testutil"
)

// review, driven through tmux against a real daemon: it shows a row per
// camera, plays from the cursor on Enter (the player gets a stream that
// decodes cleanly), saves a still, adds a bookmark and a hold, and the
// session is audited as a view, start and end.
func TestReview_Tmux_RowsPlayStillMarkHold(t *testing.T) {
	testutil.NeedTool(t, "tmux")
	testutil.NeedTool(t, "ffmpeg")
	b := newBox(t, "desk", "yard")
	b.runDaemon(daemon.Options{})
	waitUntil(t, "footage of both cameras", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 2 && len(l.Cameras[0].Segments) >= 1 && len(l.Cameras[1].Segments) >= 1
	})
	seg := b.list(false).Cameras[0].Segments[0] // desk
	from := seg.Start.Add(time.Second)

	// A stand-in for mpv that keeps what it is given.
	dir := t.TempDir()
	played := filepath.Join(dir, "played.mkv")
	stills := filepath.Join(dir, "stills")
	if err := os.Mkdir(stills, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mpv"), []byte("#!/bin/sh\ncat > "+played+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sock := "cctv-review-" + strconv.Itoa(os.Getpid())
	tmux := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	cmdline := strings.Join([]string{"env", envRunMain + "=1", "PATH=" + dir + ":" + os.Getenv("PATH"), "TERM=xterm-256color",
		os.Args[0], "--config", b.cfgPath, "review", "--step", "1s", "--from", "'" + from.Format(time.RFC3339Nano) + "'",
		"--stills", stills, "--reason", "'incident 42'", "2>" + filepath.Join(dir, "stderr")}, " ")
	tmux("new-session", "-d", "-s", "rev", "-x", "140", "-y", "20", cmdline)
	t.Cleanup(func() { exec.Command("tmux", "-L", sock, "kill-server").Run() })
	screen := func() string { return tmux("capture-pane", "-p", "-t", "rev") }
	waitScreen := func(what string, cond func(s string) bool) string {
		t.Helper()
		var s string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if s = screen(); cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				errOut, _ := os.ReadFile(filepath.Join(dir, "stderr"))
				t.Fatalf("timed out after 30s waiting for %s; the screen:\n%s\nstderr: %s", what, s, errOut)
			}
		}
	}
	s := waitScreen("the camera rows", func(s string) bool {
		return strings.Contains(s, "\ndesk ") && strings.Contains(s, "\nyard ") && !strings.Contains(s, "loading")
	})
	t.Logf("review screen:\n%s", s)
	if !strings.Contains(s, "cursor: desk at "+from.In(time.Local).Format("2006-01-02 15:04:05")) {
		t.Errorf("cursor not at --from on camera desk:\n%s", s)
	}

	tmux("send-keys", "-t", "rev", "Enter")
	waitScreen("the play to end", func(s string) bool { return strings.Contains(s, "played desk") })
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", played, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("the stream Enter played does not decode cleanly: %v %s", err, out)
	}

	tmux("send-keys", "-t", "rev", "s")
	waitScreen("the still", func(s string) bool { return strings.Contains(s, "still: ") && !strings.Contains(s, "saving") })
	if files, _ := filepath.Glob(filepath.Join(stills, "still-desk-*.jpg")); len(files) != 1 {
		t.Errorf("stills saved: %v\n%s", files, screen())
	}

	// One key at a time, each seen on screen before the next, as a person
	// types: an arrow's escape sequence and the next key written to the
	// terminal together could be split by a loaded machine's reads.
	tmux("send-keys", "-t", "rev", "Right")
	tmux("send-keys", "-t", "rev", "Right")
	at2 := "cursor: desk at " + from.Add(2*time.Second).In(time.Local).Format("2006-01-02 15:04:05")
	waitScreen("the cursor two steps on", func(s string) bool { return strings.Contains(s, at2) })
	tmux("send-keys", "-t", "rev", "m")
	waitScreen("the bookmark prompt", func(s string) bool { return strings.Contains(s, "note: ") })
	tmux("send-keys", "-t", "rev", "-l", "van arrives")
	tmux("send-keys", "-t", "rev", "Enter")
	waitScreen("the bookmark", func(s string) bool { return strings.Contains(s, "bookmark M-0001 added") })
	if out := b.mustRun("mark", "list"); !strings.Contains(out, "van arrives") {
		t.Errorf("mark list after review: %s", out)
	}

	tmux("send-keys", "-t", "rev", "Down")
	waitScreen("the cursor on yard", func(s string) bool { return strings.Contains(s, "cursor: yard") })
	tmux("send-keys", "-t", "rev", "h")
	waitScreen("the hold prompt", func(s string) bool { return strings.Contains(s, "case reference: ") })
	tmux("send-keys", "-t", "rev", "-l", "CASE-7")
	tmux("send-keys", "-t", "rev", "Enter")
	tmux("send-keys", "-t", "rev", "-l", "theft at the till")
	tmux("send-keys", "-t", "rev", "Enter")
	s = waitScreen("the hold", func(s string) bool { return strings.Contains(s, "placed") || strings.Contains(s, "refused") })
	if !strings.Contains(s, "hold H-") || !strings.Contains(b.mustRun("hold", "list"), "CASE-7") {
		t.Errorf("hold from review:\n%s", s)
	}

	tmux("send-keys", "-t", "rev", "q")
	waitUntil(t, "review to quit", 20*time.Second, func() bool {
		return exec.Command("tmux", "-L", sock, "has-session", "-t", "rev").Run() != nil
	})
	phases := map[string]bool{}
	for _, e := range b.auditEntries() {
		if e.Action == "view" && e.Params["kind"] == "review" {
			phases[e.Params["phase"]] = true
			if e.Params["reason"] != "incident 42" {
				t.Errorf("review view entry %+v", e.Params)
			}
		}
	}
	if !phases["start"] || !phases["end"] {
		t.Errorf("review session audited as %v, want a start and an end view", phases)
	}
}
