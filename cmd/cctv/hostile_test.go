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

	"github.com/council/cctv/api"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/testutil"
)

// These tests attack the box as local users would (issue: no local user,
// however hostile or careless, can cost footage or lock others out). They
// run as root and create throwaway users.

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestHostile_ViewerFlood_IndexBoundedNoFootageLost(t *testing.T) {
	testutil.NeedRoot(t, "it creates throwaway users")
	testutil.NeedTool(t, "useradd")
	b := newBox(t, "desk")
	viewer := throwawayUser(t, "cctvtf"+strconv.Itoa(os.Getpid()%100000), "cctvt-view")
	bin := filepath.Join(b.dir, "cctv")
	copyFile(t, os.Args[0], bin, 0o755)
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "two segments", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 2
	})
	start := b.list(false).Cameras[0].Segments[0].Start
	index := filepath.Join(b.dir, "data", "index.db")
	before := fileSize(t, index)

	began := time.Now()
	h := startHog(t, bin, viewer, "flood", b.sock(), "200", "10000")
	got := h.line(t)
	if n, err := strconv.Atoi(strings.Fields(strings.TrimPrefix(got, "answered "))[0]); err != nil || n < 10200 {
		t.Fatalf("flood: %s of 10200 requests answered", got)
	}
	t.Logf("flood of 200 × 1 MB and 10,000 refused requests took %s", time.Since(began).Round(time.Millisecond))

	grew := fileSize(t, index) - before
	if grew >= 10<<20 {
		t.Errorf("index.db grew by %d bytes under the flood, want under 10 MB", grew)
	}
	t.Logf("index.db grew by %d bytes (from %d)", grew, before)
	// The summary of what the rate limit held back is written within 10 s.
	var mine []string
	waitUntil(t, "the rate-limit summary entry", 30*time.Second, func() bool {
		mine = mine[:0]
		summary := false
		for _, e := range b.auditEntries() {
			if e.User != viewer.Username {
				continue
			}
			for k, v := range e.Params {
				if len(v) > api.MaxText {
					t.Fatalf("audit entry %d carries %d bytes of %s", e.Seq, len(v), k)
				}
			}
			mine = append(mine, e.Action+" => "+e.Result)
			summary = summary || e.Action == "request.ratelimit" && strings.Contains(e.Result, "refused requests")
		}
		return summary
	})
	if len(mine) > 100 {
		t.Errorf("%d audit entries for the flood of 10,200 requests, want a burst and summaries", len(mine))
	}
	// Recording goes on, nothing was deleted and there is no gap.
	n := len(b.list(false).Cameras[0].Segments)
	waitUntil(t, "recording to go on", 60*time.Second, func() bool { return len(b.list(false).Cameras[0].Segments) > n })
	l := b.list(true).Cameras[0]
	if len(l.Deleted) != 0 || len(l.Gaps) != 0 || !l.Segments[0].Start.Equal(start) {
		t.Errorf("after the flood: %d deleted, gaps %v, first segment %s (was %s)", len(l.Deleted), l.Gaps, l.Segments[0].Start, start)
	}
	b.mustRun("audit", "verify")
}

// sock is the box's socket path.
func (b *box) sock() string { return filepath.Join(b.dir, "run", "cctv.sock") }

func TestHostile_StalledExportsAndIdleViewers_SupervisorGetsThrough(t *testing.T) {
	testutil.NeedRoot(t, "it creates throwaway users")
	testutil.NeedTool(t, "useradd")
	b := newBox(t, "desk")
	suffix := strconv.Itoa(os.Getpid() % 100000)
	operator := throwawayUser(t, "cctvto"+suffix, "cctvt-view", "cctvt-export")
	viewer := throwawayUser(t, "cctvti"+suffix, "cctvt-view")
	bin := filepath.Join(b.dir, "cctv")
	copyFile(t, os.Args[0], bin, 0o755)
	b.runDaemon(daemon.Options{StreamStall: 3 * time.Second})
	waitUntil(t, "two segments", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 2
	})
	segs := b.list(false).Cameras[0].Segments
	line := exportLine(t, "desk", segs[0].Start, segs[1].End)

	exports := startHog(t, bin, operator, "export", b.sock(), "32", line)
	idle := startHog(t, bin, viewer, "idle", b.sock(), "40")
	t.Logf("operator: %s stalled export connections; viewer: %s idle connections", exports.line(t), idle.line(t))
	for i := range 5 {
		began := time.Now()
		code, out, errs := b.run("status", "--json")
		took := time.Since(began)
		var st api.Status
		if json.Unmarshal([]byte(out), &st) != nil || took > time.Second {
			t.Errorf("supervisor status %d under load: exit %d after %s\n%s", i, code, took.Round(time.Millisecond), errs)
		}
		t.Logf("supervisor status %d under load answered in %s", i, took.Round(time.Millisecond))
		time.Sleep(500 * time.Millisecond)
	}
	// Stalled streams are cut and their staging removed: after the running
	// ones stall out and the waiting ones give up, nothing is staged.
	staging := filepath.Join(b.dir, "data", "exports")
	waitUntil(t, "staged packages to be removed", 60*time.Second, func() bool {
		des, err := os.ReadDir(staging)
		return err == nil && len(des) == 0 || os.IsNotExist(err)
	})
	var cut, busy int
	for _, e := range b.auditEntries() {
		if e.User == operator.Username && strings.Contains(e.Result, "too many connections") {
			busy++
		}
		if e.User == operator.Username && e.Action == "export" {
			cut++
		}
	}
	if busy == 0 || cut > 16 {
		t.Errorf("operator: %d exports started, %d connections refused as too many; want at most 16 and some", cut, busy)
	}
}

// smallBox puts the box's data directory on a tmpfs of size.
func smallBox(t *testing.T, size string, cameras ...string) (*box, string) {
	t.Helper()
	testutil.NeedRoot(t, "it mounts a small tmpfs for a real full disk")
	b := newBox(t, cameras...)
	mnt := filepath.Join(b.dir, "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		testutil.Missing(t, "cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	raw, _ := os.ReadFile(b.cfgPath)
	cfgText := strings.Replace(string(raw), filepath.Join(b.dir, "data"), filepath.Join(mnt, "data"), 1)
	if err := os.WriteFile(b.cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	b.mustRun("init")
	return b, mnt
}

// fillTo writes a ballast file so that free space on mnt is frac of it.
func fillTo(t *testing.T, mnt string, frac float64) {
	t.Helper()
	free, total, err := fsutil.FreeSpace(mnt)
	if err != nil {
		t.Fatal(err)
	}
	ballast := int64(free) - int64(float64(total)*frac)
	if ballast <= 0 {
		t.Fatalf("already below %.0f%% free", 100*frac)
	}
	if err := os.WriteFile(filepath.Join(mnt, "ballast-"+strconv.FormatInt(time.Now().UnixNano(), 36)), make([]byte, ballast), 0o600); err != nil {
		t.Fatal(err)
	}
}

func pressureDeletions(l api.List) int {
	n := 0
	for _, c := range l.Cameras {
		for _, d := range c.Deleted {
			if d.Why == "disk-pressure" {
				n++
			}
		}
	}
	return n
}

func TestHostile_ExportNearMinFree_NoFootageDeleted(t *testing.T) {
	b, mnt := smallBox(t, "32m", "desk")
	b.setConfig(`min_free = "25%"
deletion_interval = "1s"`)
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "four segments", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 4
	})
	segs := b.list(false).Cameras[0].Segments
	var footage int64
	for _, s := range segs {
		footage += s.Bytes
	}
	// Leave room above min_free for one segment's package, not for all.
	_, total, _ := fsutil.FreeSpace(mnt)
	fillTo(t, mnt, 0.25+float64(3*segs[0].Bytes+(2<<20))/float64(total))
	out := t.TempDir()
	code, _, errs := b.run("export", "--camera", "desk", "--from", segs[0].Start.Format(time.RFC3339Nano), "--to", segs[len(segs)-1].End.Format(time.RFC3339Nano),
		"--case", "T-9", "--reason", "test", "--recipient", "PC 1", "--out", out)
	if code != 1 || !strings.Contains(errs, "not enough room on the data disk") {
		t.Errorf("export of %d bytes of footage near min_free: exit %d\n%s", footage, code, errs)
	}
	b.mustRun("export", "--camera", "desk", "--from", segs[1].Start.Add(time.Second).Format(time.RFC3339Nano), "--to", segs[1].Start.Add(2*time.Second).Format(time.RFC3339Nano),
		"--case", "T-10", "--reason", "test", "--recipient", "PC 1", "--out", out)
	time.Sleep(2 * time.Second) // two deletion passes
	if n := pressureDeletions(b.list(true)); n != 0 {
		t.Errorf("%d segments deleted by disk pressure around the exports", n)
	}
}

func TestHostile_PressureDeletesEverything_StatusSaysSoEveryPoll(t *testing.T) {
	b, mnt := smallBox(t, "24m", "desk")
	b.setConfig(`min_free = "25%"
deletion_interval = "1s"`)
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "two segments", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 2
	})
	fillTo(t, mnt, 0.15)
	waitUntil(t, "disk pressure to delete every segment", 60*time.Second, func() bool {
		l := b.list(true)
		return pressureDeletions(l) > 0 && len(l.Cameras[0].Segments) <= 1
	})
	for i := range 20 {
		code, out, _ := b.run("status", "--json")
		var st api.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status: exit %d: %s", code, out)
		}
		alerts := strings.Join(st.Alerts, "\n")
		if code != 1 || !strings.Contains(alerts, "retention shortfall") || len(st.Cameras) != 1 {
			t.Errorf("poll %d: exit %d, %d cameras, alerts:\n%s", i, code, len(st.Cameras), alerts)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestHostile_IndexOverBudget_RequestsRefusedRecordingGoesOn(t *testing.T) {
	testutil.NeedTool(t, "useradd")
	b, _ := smallBox(t, "16m", "desk")
	b.setConfig(`index_budget = "0.1%"`)
	viewer := throwawayUser(t, "cctvtb"+strconv.Itoa(os.Getpid()%100000), "cctvt-view")
	bin := filepath.Join(b.dir, "cctv")
	copyFile(t, os.Args[0], bin, 0o755)
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "the index over its budget of 0.1% of 16 MB", 60*time.Second, func() bool {
		code, out := asUser(t, bin, viewer, b.cfgPath, "status")
		return code == 1 && strings.Contains(out, "over its budget")
	})
	code, out, _ := b.run("status", "--json")
	if code != 1 || !strings.Contains(out, "of its budget") {
		t.Errorf("supervisor status over budget: exit %d\n%s", code, out)
	}
	n := len(b.list(false).Cameras[0].Segments)
	waitUntil(t, "recording to go on", 60*time.Second, func() bool { return len(b.list(false).Cameras[0].Segments) > n })
	if del := pressureDeletions(b.list(true)); del != 0 {
		t.Errorf("%d segments deleted by disk pressure", del)
	}
}
