package store_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/council/cctv/store"
)

// daemonTick is the daemon's time-safety rule, as cmd/cctv applies it: a
// forward jump of more than an hour since the last tick pauses deletion;
// then a retention pass runs.
func daemonTick(t *testing.T, s *store.Store, prev, now time.Time, p store.RetentionPolicy) ([]store.Disposal, error) {
	t.Helper()
	if now.Sub(prev) > time.Hour {
		if err := s.PauseDeletion("the box clock jumped forward by " + now.Sub(prev).String()); err != nil {
			t.Fatal(err)
		}
	}
	deleted, _, err := s.ApplyRetention(now, p, 0)
	return deleted, err
}

// A camera has one-minute segments every hour for 45 days before t0. At t0
// retention has deleted all that is 30 days old; then the clock steps.
func TestApplyRetention_ClockSteps(t *testing.T) {
	p := store.RetentionPolicy{Default: 30 * day}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-10-25 01:00 UTC: British Summer Time ends; local clocks go
	// from 01:59:59 BST back to 01:00 GMT.
	dst := time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		base   time.Time // the time of the last normal tick
		next   time.Time // the clock reading after the step
		paused bool
		// want is how many more segments may go at next (beyond those
		// expired at base); after a confirmation, wantAfterConfirm.
		want, wantAfterConfirm int
	}{
		{"forward-1h", t0, t0.Add(time.Hour), false, 1, 1},
		{"forward-40d", t0, t0.Add(40 * day), true, 0, 30 * 24}, // after confirming: all that is left
		{"backward-1d", t0, t0.Add(-day), false, 0, 0},
		// 00:30 UTC (01:30 BST) → 01:30 UTC (01:30 GMT): the local wall
		// clock reads the same, an hour passed: one hourly segment expires.
		{"dst-end-local-readings", dst.Add(-30 * time.Minute).In(london), dst.Add(30 * time.Minute).In(london), false, 1, 1},
		// 01:59:30 BST → 01:00:30 GMT: the wall clock goes back 59 minutes,
		// one minute passed; nothing expires in it.
		{"dst-end-wall-clock-repeats", dst.Add(-30 * time.Second).In(london), dst.Add(30 * time.Second).In(london), false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			s := e.open(t)
			s.TestOnlyNoSync()
			e.clk.Set(tc.base)
			from := tc.base.UTC().Truncate(time.Hour).Add(-45 * day)
			var all []time.Time
			for st := from; st.Before(tc.base); st = st.Add(time.Hour) {
				writeSeg(t, s, "cam", st, time.Minute)
				all = append(all, st)
			}
			if _, err := daemonTick(t, s, tc.base.Add(-time.Minute), tc.base, p); err != nil {
				t.Fatal(err)
			}
			_, _, before, _ := s.Span("cam")
			e.clk.Set(tc.next)
			deleted, err := daemonTick(t, s, tc.base, tc.next, p)
			paused, reason, _, perr := s.DeletionPaused()
			if perr != nil || paused != tc.paused {
				t.Fatalf("paused %v (%q) %v", paused, reason, perr)
			}
			if tc.paused != errors.Is(err, store.ErrDeletionPaused) || (!tc.paused && err != nil) {
				t.Fatalf("err %v", err)
			}
			// What the elapsed UTC time expires, and no more.
			expiring := 0
			for _, st := range all {
				if x := st.Add(time.Minute + p.Default); x.After(tc.base) && !x.After(tc.next) {
					expiring++
				}
			}
			if !tc.paused && expiring != tc.want || tc.paused && expiring != tc.wantAfterConfirm {
				t.Fatalf("test table: %d segments expire in the step", expiring)
			}
			if len(deleted) != tc.want {
				t.Fatalf("deleted %d at the step, want %d", len(deleted), tc.want)
			}
			// Whatever went had expired by the step's reading; nothing newer.
			for _, d := range deleted {
				if d.End.Add(p.Default).After(tc.next) {
					t.Fatalf("deleted %s too early", d.File)
				}
			}
			if tc.paused {
				// Disk pressure waits too.
				if ds, err := s.ApplyPressure(1<<40, tc.next, 0); !errors.Is(err, store.ErrDeletionPaused) || len(ds) != 0 {
					t.Fatalf("pressure while paused: %d %v", len(ds), err)
				}
				if err := s.DisposeSegment("cam", all[len(all)-1], "retention"); !errors.Is(err, store.ErrDeletionPaused) {
					t.Fatalf("dispose while paused: %v", err)
				}
				if _, _, n, _ := s.Span("cam"); n != before {
					t.Fatalf("%d segments went while paused", before-n)
				}
				if err := s.ConfirmTime(alice); err != nil {
					t.Fatal(err)
				}
				deleted, _, err = s.ApplyRetention(tc.next, p, 0)
				if err != nil || len(deleted) != tc.wantAfterConfirm {
					t.Fatalf("after confirm: deleted %d, want %d: %v", len(deleted), tc.wantAfterConfirm, err)
				}
				ents, _ := s.AuditEntries(store.AuditFilter{Action: "deletion.pause"})
				conf, _ := s.AuditEntries(store.AuditFilter{Action: "time.confirm"})
				if len(ents) != 1 || len(conf) != 1 || conf[0].User != "alice" || conf[0].Params["pause_reason"] == "" {
					t.Fatalf("audit %+v %+v", ents, conf)
				}
			}
			// Every remaining segment is younger than retention at the
			// latest trusted reading.
			segs, _ := s.Segments("cam", time.Time{}, tc.base.Add(100*day))
			latest := tc.base
			if tc.next.After(latest) {
				latest = tc.next
			}
			for _, g := range segs {
				if !g.End.Add(p.Default).After(latest) {
					t.Errorf("expired %s kept", g.File)
				}
			}
			if !slices.IsSortedFunc(segs, func(a, b store.Segment) int { return a.Start.Compare(b.Start) }) {
				t.Error("unsorted")
			}
			e.mustClean(t, s)
		})
	}
}

func TestStore_PauseDeletion_Persists(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	if err := s.PauseDeletion("jump"); err != nil {
		t.Fatal(err)
	}
	e.clk.Set(e.clk.Now().Add(time.Hour))
	if err := s.PauseDeletion("again"); err != nil { // idempotent: first reason stays
		t.Fatal(err)
	}
	_ = s.Close()
	s = e.open(t)
	paused, reason, since, err := s.DeletionPaused()
	if err != nil || !paused || reason != "jump" || !since.Equal(t0.Add(time.Hour)) {
		t.Fatalf("%v %q %v %v", paused, reason, since, err)
	}
	if ents, _ := s.AuditEntries(store.AuditFilter{Action: "deletion.pause"}); len(ents) != 1 {
		t.Fatalf("pause audited %d times", len(ents))
	}
	if err := s.ConfirmTime(bob); err != nil {
		t.Fatal(err)
	}
	if paused, _, _, _ := s.DeletionPaused(); paused {
		t.Fatal("still paused")
	}
	e.mustClean(t, s)
}
