package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/council/cctv/store"
)

var (
	alice = store.Actor{User: "alice", UID: 1001}
	bob   = store.Actor{User: "bob", UID: 1002}
)

func TestStore_AddHold_Invalid(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ok := store.Hold{Camera: "cam", From: t0, To: t0.Add(time.Hour), Case: "WMP-1", Reason: "s.22 request"}
	for _, tc := range []struct {
		name string
		edit func(*store.Hold)
	}{
		{"bad-camera", func(h *store.Hold) { h.Camera = "../etc" }},
		{"empty-camera", func(h *store.Hold) { h.Camera = "" }},
		{"to-before-from", func(h *store.Hold) { h.To = h.From.Add(-time.Second) }},
		{"empty-window", func(h *store.Hold) { h.To = h.From }},
		{"no-case", func(h *store.Hold) { h.Case = "  " }},
		{"no-reason", func(h *store.Hold) { h.Reason = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ok
			tc.edit(&h)
			if _, err := s.AddHold(h, alice); !errors.Is(err, store.ErrInvalidHold) {
				t.Fatalf("err %v", err)
			}
		})
	}
	if hs, _ := s.Holds(true); len(hs) != 0 {
		t.Fatalf("holds %+v", hs)
	}
}

func TestStore_AddHold_Defaults(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	now := e.clk.Now()
	h, err := s.AddHold(store.Hold{Camera: "all", From: t0, To: t0.Add(time.Hour), Case: "WMP-1", Reason: "police request", ID: "X", Released: true}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != "H-0001" || h.Released || h.PlacedBy != alice || !h.PlacedAt.Equal(now) || !h.Review.Equal(now.Add(90*day)) {
		t.Fatalf("hold %+v", h)
	}
	h2, err := s.AddHold(store.Hold{Camera: "cam", From: t0, To: t0.Add(time.Hour), Case: "WMP-2", Reason: "r", Review: now.Add(day)}, bob)
	if err != nil || h2.ID != "H-0002" || !h2.Review.Equal(now.Add(day)) {
		t.Fatalf("hold %+v %v", h2, err)
	}
	if h2.Overdue(now) || !h2.Overdue(now.Add(day+time.Second)) {
		t.Fatal("overdue")
	}
	ents, _ := s.AuditEntries(store.AuditFilter{Action: "hold.add"})
	if len(ents) != 2 || ents[0].User != "alice" || ents[0].UID != 1001 || ents[0].Params["id"] != "H-0001" ||
		ents[0].Params["case"] != "WMP-1" || ents[1].User != "bob" {
		t.Fatalf("audit %+v", ents)
	}
	e.mustClean(t, s)
}

func TestStore_ReleaseHold(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	h, err := s.AddHold(store.Hold{Camera: "cam", From: t0, To: t0.Add(time.Hour), Case: "WMP-1", Reason: "r"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		id     string
		reason string
		by     store.Actor
		allow  bool
		want   error
	}{
		{"unknown-hold", "H-0099", "done", bob, false, store.ErrNotFound},
		{"no-reason", h.ID, "  ", bob, false, store.ErrNoReason},
		{"same-supervisor", h.ID, "done", store.Actor{User: "alice2", UID: alice.UID}, false, store.ErrSamePerson},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.ReleaseHold(tc.id, tc.reason, tc.by, tc.allow); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if hs, _ := s.Holds(false); len(hs) != 1 {
		t.Fatal("a refused release released")
	}
	t.Run("single-supervisor-switch", func(t *testing.T) {
		r, err := s.ReleaseHold(h.ID, "case closed", alice, true)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Released || !r.SingleSupervisor || r.ReleasedBy != alice || r.ReleaseReason != "case closed" {
			t.Fatalf("released %+v", r)
		}
		ents, _ := s.AuditEntries(store.AuditFilter{Action: "hold.release"})
		if len(ents) != 1 || ents[0].User != "alice" || ents[0].Params["single_supervisor"] != "true" ||
			ents[0].Params["reason"] != "case closed" {
			t.Fatalf("audit %+v", ents)
		}
		if _, err := s.ReleaseHold(h.ID, "again", bob, false); !errors.Is(err, store.ErrReleased) {
			t.Fatalf("second release: %v", err)
		}
	})
	t.Run("two-person", func(t *testing.T) {
		h2, _ := s.AddHold(store.Hold{Camera: "cam", From: t0, To: t0.Add(time.Hour), Case: "WMP-2", Reason: "r"}, alice)
		r, err := s.ReleaseHold(h2.ID, "case closed", bob, false)
		if err != nil || r.SingleSupervisor {
			t.Fatalf("%+v %v", r, err)
		}
		ents, _ := s.AuditEntries(store.AuditFilter{Action: "hold.release"})
		if last := ents[len(ents)-1]; last.User != "bob" || last.Params["single_supervisor"] != "" {
			t.Fatalf("audit %+v", last)
		}
	})
	act, _ := s.Holds(false)
	all, _ := s.Holds(true)
	if len(act) != 0 || len(all) != 2 {
		t.Fatalf("holds %d active %d all", len(act), len(all))
	}
	e.mustClean(t, s)
}

// Holds protect from retention, disk pressure and DisposeSegment; a released
// hold stops protecting; one past review keeps protecting.
func TestStore_HoldsProtect(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	base := t0.Add(-40 * day)
	for i := range 6 { // cam and other: six one-minute segments each, a day apart
		writeSeg(t, s, "cam", base.Add(time.Duration(i)*day), time.Minute)
		writeSeg(t, s, "other", base.Add(time.Duration(i)*day+time.Hour), time.Minute)
	}
	// H-0001 on cam's day 1, H-0002 (review overdue) on every camera's day 2.
	h1, err := s.AddHold(store.Hold{Camera: "cam", From: base.Add(day), To: base.Add(day + time.Second), Case: "WMP-1", Reason: "r"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddHold(store.Hold{Camera: "all", From: base.Add(2 * day), To: base.Add(3 * day), Case: "WMP-2", Reason: "r",
		Review: e.clk.Now().Add(-time.Hour)}, alice); err != nil {
		t.Fatal(err)
	}
	if err := s.DisposeSegment("cam", base.Add(day), "manual"); !errors.Is(err, store.ErrHeld) {
		t.Fatalf("dispose held: %v", err)
	}
	now := e.clk.Now()
	p := store.RetentionPolicy{Default: 30 * day}
	deleted, kept, err := s.ApplyRetention(now, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 9 || len(kept) != 3 {
		t.Fatalf("deleted %d kept %d", len(deleted), len(kept))
	}
	var reasons []string
	for _, k := range kept {
		reasons = append(reasons, k.Segment.Camera+" "+k.Reason)
	}
	want := []string{"cam held by H-0001 (case WMP-1)", "cam held by H-0002 (case WMP-2)", "other held by H-0002 (case WMP-2)"}
	if !slices.Equal(reasons, want) {
		t.Fatalf("kept %q", reasons)
	}
	// Disk pressure asks for everything: held footage survives.
	writeSeg(t, s, "cam", now.Add(-time.Hour), time.Minute)
	holds, _ := s.Holds(false)
	plan, err := s.PlanPressure(1<<40, holds, now)
	if err != nil || len(plan) != 4 || plan[0].Delete || plan[1].Delete || plan[2].Delete || !plan[3].Delete {
		t.Fatalf("pressure plan %+v %v", plan, err)
	}
	ds, err := s.ApplyPressure(1<<40, now, 0)
	if err != nil || len(ds) != 1 || ds[0].Why != "disk-pressure" {
		t.Fatalf("pressure %+v %v", ds, err)
	}
	if ds, err := s.ApplyPressure(1<<40, now, 0); err != nil || len(ds) != 0 {
		t.Fatalf("pressure with only held footage left: %+v %v", ds, err)
	}
	if ents, _ := s.AuditEntries(store.AuditFilter{Action: "pressure.batch"}); len(ents) != 1 || ents[0].Params["count"] != "1" {
		t.Fatalf("pressure audit %+v", ents)
	}
	// Releasing H-0001 deletes nothing by itself; the next pass does.
	if _, err := s.ReleaseHold(h1.ID, "closed", bob, false); err != nil {
		t.Fatal(err)
	}
	if _, _, n, _ := s.Span("cam"); n != 2 {
		t.Fatalf("release deleted footage: %d left", n)
	}
	deleted, kept, err = s.ApplyRetention(now, p, 0)
	if err != nil || len(deleted) != 1 || !deleted[0].Start.Equal(base.Add(day)) || len(kept) != 2 {
		t.Fatalf("after release: deleted %+v kept %d %v", deleted, len(kept), err)
	}
	e.mustClean(t, s)
}

// Pressure deletes oldest end first across cameras, stopping once enough
// bytes are freed.
func TestStore_ApplyPressure_OldestFirst(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	var recs []store.SealRecord
	for i := range 6 {
		cam := []string{"a", "b", "c"}[i%3]
		recs = append(recs, writeSeg(t, s, cam, t0.Add(time.Duration(i)*time.Minute), time.Minute))
	}
	need := recs[0].Seal.Bytes*2 + 1 // three segments
	ds, err := s.ApplyPressure(need, e.clk.Now(), 0)
	if err != nil || len(ds) != 3 {
		t.Fatalf("%+v %v", ds, err)
	}
	for i, d := range ds {
		if d.File != recs[i].Seal.File {
			t.Fatalf("deleted %s, want %s", d.File, recs[i].Seal.File)
		}
	}
	if ds, err := s.ApplyPressure(recs[0].Seal.Bytes, e.clk.Now(), 0); err != nil || len(ds) != 1 || ds[0].File != recs[3].Seal.File {
		t.Fatalf("%+v %v", ds, err)
	}
	e.mustClean(t, s)
}
