package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/api"
)

// A subject access request holds its footage through retention from the
// moment it is registered, raises an alert as its deadline nears, and its
// close releases the hold (two-person rule).
func TestSAR_OpenHoldsFootageAlertsAndCloses(t *testing.T) {
	b := newBox(t, "desk")
	b.setConfig(`retention = "12s"
deletion_interval = "1s"`)
	d := b.startDaemon()
	defer func() { stopDaemon(t, d) }() // the daemon restarted below
	waitUntil(t, "a segment", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 1
	})
	seg := b.list(false).Cameras[0].Segments[0]
	received := time.Now().Add(-26 * 24 * time.Hour) // due in about 4 days
	out := b.mustRun("sar", "open", "--ref", "SAR-2026-014", "--subject", "man in a red coat", "--received", received.Format(time.RFC3339),
		"--camera", "desk", "--from", seg.Start.Format(time.RFC3339Nano), "--to", seg.Start.Add(time.Second).Format(time.RFC3339Nano), "--json")
	var r api.SAR
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Holds) != 1 || r.Due.Before(time.Now()) {
		t.Fatalf("sar open: %v %s", err, out)
	}
	if code, _, stderr := b.run("sar", "open", "--ref", "SAR-2026-014", "--subject", "x", "--received", received.Format(time.RFC3339),
		"--camera", "desk", "--from", seg.Start.Format(time.RFC3339Nano), "--to", seg.End.Format(time.RFC3339Nano)); code != 2 || !strings.Contains(stderr, "already registered") {
		t.Errorf("the same reference again: exit %d: %s", code, stderr)
	}
	// Retention (12 s) deletes what expires around it; the request's segment stays.
	waitUntil(t, "retention to delete expired footage", 60*time.Second, func() bool {
		return len(b.list(true).Cameras[0].Deleted) > 0
	})
	if l := b.list(false).Cameras[0]; l.Segments[0].File != seg.File {
		t.Errorf("the requested segment %s was deleted; oldest left %s", seg.File, l.Segments[0].File)
	}
	code, status, _ := b.run("status")
	if code != 1 || !strings.Contains(status, "subject access request SAR-2026-014 is due on") {
		t.Errorf("status with a request due within a week: exit %d\n%s", code, status)
	}
	if list := b.mustRun("sar", "list"); !strings.Contains(list, "SAR-2026-014") || !strings.Contains(list, "man in a red coat") {
		t.Errorf("sar list:\n%s", list)
	}
	// Closing: an outcome is required, and a second supervisor.
	if code, _, stderr := b.run("sar", "close", "SAR-2026-014"); code != 2 {
		t.Errorf("close without an outcome: exit %d: %s", code, stderr)
	}
	if code, _, stderr := b.run("sar", "close", "SAR-2026-014", "--outcome", "disclosed"); code != 1 || !strings.Contains(stderr, "different supervisor") {
		t.Errorf("close by the supervisor who opened it: exit %d: %s", code, stderr)
	}
	stopDaemon(t, d)
	b.setConfig(`single_supervisor_release = true`)
	d = b.startDaemon()
	b.mustRun("sar", "close", "SAR-2026-014", "--outcome", "disclosed on 2026-12-01")
	if holds := b.mustRun("hold", "list"); !strings.Contains(holds, "no holds") {
		t.Errorf("holds after the close:\n%s", holds)
	}
	waitUntil(t, "retention to delete the released segment", 60*time.Second, func() bool {
		return b.list(false).Cameras[0].Segments[0].File != seg.File
	})
	seen := map[string]bool{}
	for _, e := range b.auditEntries() {
		seen[e.Action] = true
	}
	for _, a := range []string{"sar.open", "sar.close", "request.sar.open", "request.sar.close"} {
		if !seen[a] {
			t.Errorf("no %s audit entry", a)
		}
	}
}
