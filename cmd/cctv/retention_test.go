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
	"github.com/council/cctv/internal/testutil"
)

// setConfig appends lines to the box's config (top-level keys go before the
// first table, so they are inserted there).
func (b *box) setConfig(lines string) {
	b.t.Helper()
	raw, err := os.ReadFile(b.cfgPath)
	if err != nil {
		b.t.Fatal(err)
	}
	s := strings.Replace(string(raw), "\n[access]", "\n"+lines+"\n[access]", 1)
	if err := os.WriteFile(b.cfgPath, []byte(s), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *box) list(deleted bool) api.List {
	b.t.Helper()
	args := []string{"list", "--json", "--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z"}
	if deleted {
		args = append(args, "--deleted")
	}
	var out api.List
	if err := json.Unmarshal([]byte(b.mustRun(args...)), &out); err != nil {
		b.t.Fatal(err)
	}
	return out
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestDaemon_Retention_DeletesExpiredKeepsHeld(t *testing.T) {
	b := newBox(t, "desk")
	b.setConfig(`retention = "12s"
deletion_interval = "1s"`)
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "a first segment", 30*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 1
	})
	first := b.list(false).Cameras[0].Segments[0]
	// Hold the first segment's footage.
	out := b.mustRun("hold", "add", "--camera", "desk", "--json",
		"--from", first.Start.Add(time.Second).Format(time.RFC3339Nano), "--to", first.Start.Add(2*time.Second).Format(time.RFC3339Nano),
		"--case", "T-1", "--reason", "test hold", "--review", "2099-02-20") // a bare date, as in the README
	var h api.Hold
	if err := json.Unmarshal([]byte(out), &h); err != nil || h.ID == "" {
		t.Fatalf("hold add: %s", out)
	}
	if h.Review.Year() != 2099 || h.Review.Month() != time.February || h.Review.Day() < 19 || h.Review.Day() > 20 {
		t.Errorf("hold review %s, want the start of 2099-02-20", h.Review)
	}
	waitUntil(t, "retention to delete expired footage", 60*time.Second, func() bool {
		l := b.list(true)
		for _, del := range l.Cameras[0].Deleted {
			if del.Why == "retention" {
				return true
			}
		}
		return false
	})
	l := b.list(true)
	kept := false
	for _, s := range l.Cameras[0].Segments {
		kept = kept || s.File == first.File
		if s.End.Before(time.Now().Add(-time.Minute)) && s.File != first.File {
			t.Errorf("segment %s ended over a minute ago and is not held, yet kept", s.File)
		}
	}
	if !kept {
		t.Errorf("held segment %s was deleted", first.File)
	}
	for _, del := range l.Cameras[0].Deleted {
		if del.File == first.File {
			t.Errorf("held segment has a disposal record: %+v", del)
		}
		if del.SHA256 == "" || del.Deleted.IsZero() {
			t.Errorf("disposal record lacks its hash or time: %+v", del)
		}
		if _, err := os.Stat(del.File); !os.IsNotExist(err) {
			t.Errorf("deleted %s still on disk", del.File)
		}
	}
	var dry api.RetentionPlan
	if err := json.Unmarshal([]byte(b.mustRun("retention", "--dry-run", "--json")), &dry); err != nil {
		t.Fatal(err)
	}
	heldShown := false
	for _, s := range dry.KeptHeld {
		heldShown = heldShown || (s.File == first.File && strings.Contains(s.Reason, h.ID))
	}
	if !heldShown {
		t.Errorf("retention --dry-run does not show the held segment kept because of %s: %+v", h.ID, dry)
	}
	// Release (the two-person rule refuses root releasing root's own hold
	// unless the site allows one supervisor).
	code, _, stderr := b.run("hold", "release", h.ID, "--reason", "case closed")
	if code != 1 || !strings.Contains(stderr, "different supervisor") {
		t.Errorf("release by the same supervisor: exit %d: %s", code, stderr)
	}
	code, _, stderr = b.run("hold", "release", h.ID, "--reason", "")
	if code != 2 {
		t.Errorf("release without a reason: exit %d: %s", code, stderr)
	}
}

func TestDaemon_DiskPressure_DeletesOldestUnheldAndKeepsRecording(t *testing.T) {
	testutil.NeedRoot(t, "it mounts a small tmpfs for a real full disk")
	b := newBox(t, "desk")
	mnt := filepath.Join(b.dir, "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt).CombinedOutput(); err != nil {
		testutil.Missing(t, "cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	// Move the store onto the small filesystem.
	raw, _ := os.ReadFile(b.cfgPath)
	cfgText := strings.Replace(string(raw), filepath.Join(b.dir, "data"), filepath.Join(mnt, "data"), 1)
	if err := os.WriteFile(b.cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	b.mustRun("init")
	b.setConfig(`min_free = "25%"
deletion_interval = "1s"`)
	d := b.startDaemon()
	defer stopDaemon(t, d)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(b.dir, "record.log"))
			t.Logf("the daemon's log:\n%s", log)
		}
	})
	waitUntil(t, "three segments", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 3
	})
	segs := b.list(false).Cameras[0].Segments
	held := segs[0]
	b.mustRun("hold", "add", "--camera", "all", "--from", held.Start.Format(time.RFC3339Nano),
		"--to", held.Start.Add(time.Second).Format(time.RFC3339Nano), "--case", "T-2", "--reason", "keep it")

	// Fill the disk to just under min_free.
	free, total, err := fsutil.FreeSpace(mnt)
	if err != nil {
		t.Fatal(err)
	}
	ballast := int64(free) - int64(float64(total)*0.22)
	if err := os.WriteFile(filepath.Join(mnt, "ballast"), make([]byte, ballast), 0o600); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "disk-pressure deletion", 60*time.Second, func() bool {
		for _, del := range b.list(true).Cameras[0].Deleted {
			if del.Why == "disk-pressure" {
				return true
			}
		}
		return false
	})
	l := b.list(true)
	if l.Cameras[0].Segments[0].File != held.File {
		t.Errorf("held segment %s gone; oldest kept is %s", held.File, l.Cameras[0].Segments[0].File)
	}
	deleted := map[string]bool{}
	for _, del := range l.Cameras[0].Deleted {
		deleted[del.File] = true
	}
	if !deleted[segs[1].File] {
		t.Errorf("the oldest unheld segment %s was not the one deleted (deleted: %v)", segs[1].File, deleted)
	}
	// Recording goes on: a newer segment is sealed. Under steady pressure
	// each new segment is itself the oldest unheld one, so the next pass
	// deletes it within a second of its sealing; it is looked for among
	// the kept segments and the disposal records alike.
	newestStart := func(l api.List) time.Time {
		var newest time.Time
		for _, s := range l.Cameras[0].Segments {
			if s.Start.After(newest) {
				newest = s.Start
			}
		}
		for _, del := range l.Cameras[0].Deleted {
			if del.Start.After(newest) {
				newest = del.Start
			}
		}
		return newest
	}
	newest := newestStart(l)
	waitUntil(t, "recording to go on", 60*time.Second, func() bool {
		return newestStart(b.list(true)).After(newest)
	})
	// And status says footage was deleted early.
	code, out, _ := b.run("status", "--json")
	if code != 1 || !strings.Contains(out, "retention shortfall") {
		t.Errorf("status after disk pressure: exit %d, %s", code, out)
	}
	var batches int
	for _, e := range b.auditEntries() {
		if e.Action == "pressure.batch" {
			batches++
		}
	}
	if batches == 0 {
		t.Error("no pressure.batch audit entry")
	}
}

func TestRecord_ClockJump_PausesDeletionUntilConfirmed(t *testing.T) {
	b := newBox(t, "desk")
	b.setConfig(`deletion_interval = "1s"`)
	clk := &clock.Shifted{}
	b.runDaemon(daemon.Options{Clock: clk})
	clk.Shift(2 * time.Hour)
	var st api.Status
	waitUntil(t, "deletion to pause", 30*time.Second, func() bool {
		_, out, _ := b.run("status", "--json")
		return json.Unmarshal([]byte(out), &st) == nil && st.Retention.DeletionPaused
	})
	if !strings.Contains(st.Retention.PausedWhy, "jumped forward by 2h") {
		t.Errorf("paused because %q", st.Retention.PausedWhy)
	}
	b.mustRun("time", "confirm")
	_, out, _ := b.run("status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Retention.DeletionPaused {
		t.Errorf("deletion still paused after time confirm: %s", out)
	}
	found := false
	for _, e := range b.auditEntries() {
		found = found || (e.Action == "time.confirm" && e.UID == os.Getuid())
	}
	if !found {
		t.Error("time confirm not audited with the supervisor's uid")
	}

	// A jump that is undone (the clock is put back) resumes deletion by itself.
	clk.Shift(3 * time.Hour)
	waitUntil(t, "deletion to pause again", 30*time.Second, func() bool {
		_, out, _ := b.run("status", "--json")
		return json.Unmarshal([]byte(out), &st) == nil && st.Retention.DeletionPaused
	})
	clk.Shift(-3 * time.Hour)
	waitUntil(t, "deletion to resume when the jump is undone", 30*time.Second, func() bool {
		_, out, _ := b.run("status", "--json")
		return json.Unmarshal([]byte(out), &st) == nil && !st.Retention.DeletionPaused
	})
}
