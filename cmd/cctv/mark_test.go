package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/api"
)

// A bookmark shows in list and mark list, and export and hold add take it
// in place of a camera and a window.
func TestMark_AddListExportHold(t *testing.T) {
	b := newBox(t, "desk")
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "a segment", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 1
	})
	seg := b.list(false).Cameras[0].Segments[0]
	at := seg.Start.Add(2 * time.Second)
	var m api.Mark
	if err := json.Unmarshal([]byte(b.mustRun("mark", "add", "--camera", "desk", "--at", at.Format(time.RFC3339Nano), "--note", "man takes purse", "--json")), &m); err != nil || m.ID != "M-0001" {
		t.Fatalf("mark add: %+v %v", m, err)
	}
	if code, _, stderr := b.run("mark", "add", "--camera", "desk", "--at", at.Format(time.RFC3339Nano), "--note", " "); code != 2 {
		t.Errorf("a bookmark without a note: exit %d: %s", code, stderr)
	}
	if out := b.mustRun("mark", "list"); !strings.Contains(out, "M-0001") || !strings.Contains(out, "man takes purse") {
		t.Errorf("mark list:\n%s", out)
	}
	if l := b.list(false).Cameras[0]; len(l.Marks) != 1 || l.Marks[0].Note != "man takes purse" {
		t.Errorf("list marks: %+v", l.Marks)
	}
	out := t.TempDir()
	b.mustRun("export", "--mark", "M-0001", "--to", seg.End.Format(time.RFC3339Nano), "--case", "M-1", "--reason", "r", "--recipient", "PC 4 Test, Test Police", "--out", out)
	if pkgs, _ := filepath.Glob(filepath.Join(out, "M-1_*")); len(pkgs) != 1 {
		t.Errorf("export --mark made %v", pkgs)
	}
	var h api.Hold
	if err := json.Unmarshal([]byte(b.mustRun("hold", "add", "--mark", "M-0001", "--case", "M-1", "--reason", "r", "--json")), &h); err != nil ||
		h.Camera != "desk" || !h.From.Equal(at.Add(-time.Minute)) || !h.To.Equal(at.Add(time.Minute)) {
		t.Errorf("hold add --mark: %+v %v", h, err)
	}
	if code, _, stderr := b.run("export", "--case", "x", "--reason", "r", "--recipient", "p", "--out", out); code != 2 || !strings.Contains(stderr, "--mark") {
		t.Errorf("export without camera or mark: exit %d: %s", code, stderr)
	}
}
