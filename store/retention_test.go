package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	_ "time/tzdata" // Europe/London for the DST case

	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
)

const day = 24 * time.Hour

// writeSeg writes a one-frame segment of camera spanning [start, start+dur).
func writeSeg(t testing.TB, s *store.Store, camera string, start time.Time, dur time.Duration, flags ...string) store.SealRecord {
	t.Helper()
	return sealSeg(t, s, camera, start, store.SealInfo{End: start.Add(dur), Frames: 1, TimeSource: "arrival", Flags: flags})
}

// sealSeg writes a one-frame segment of camera from start and seals it
// with info.
func sealSeg(t testing.TB, s *store.Store, camera string, start time.Time, info store.SealInfo) store.SealRecord {
	t.Helper()
	w, err := s.CreateSegment(camera, start, "h264")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(tsOneFrame); err != nil {
		t.Fatal(err)
	}
	rec, err := w.Seal(info)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

var tsOneFrame = storetest.TS(1)

func seg(camera string, start time.Time, dur time.Duration) store.Segment {
	return store.Segment{Seal: store.Seal{Camera: camera, Start: start, End: start.Add(dur), Bytes: 1128}}
}

func TestPlanRetention_Golden(t *testing.T) {
	now := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	p := store.RetentionPolicy{Default: 30 * day, PerCamera: map[string]time.Duration{"lobby": 7 * day, "vault": 0}}
	hold := func(id, cam string, from, to time.Time) store.Hold {
		return store.Hold{ID: id, Camera: cam, From: from, To: to, Case: "WMP-" + id[2:]}
	}
	old := now.Add(-31 * day) // 2026-10-22 14:00
	tests := []struct {
		name   string
		seg    store.Segment
		holds  []store.Hold
		delete bool
		reason string
	}{
		{"expired", seg("front", old, time.Minute), nil, true,
			"ended 2026-10-22 14:01 UTC, older than 30d retention"},
		{"expired-exactly-at-boundary", seg("front", now.Add(-30*day-time.Minute), time.Minute), nil, true,
			"ended 2026-10-23 14:00 UTC, older than 30d retention"},
		{"one-nanosecond-short-of-boundary", seg("front", now.Add(-30*day-time.Minute+1), time.Minute), nil, false,
			"ended 2026-10-23 14:00 UTC, within 30d retention (expires 2026-11-22 14:00 UTC)"},
		{"young", seg("front", now.Add(-time.Hour), time.Minute), nil, false,
			"ended 2026-11-22 13:01 UTC, within 30d retention (expires 2026-12-22 13:01 UTC)"},
		{"per-camera-override-expired", seg("lobby", now.Add(-8*day), time.Minute), nil, true,
			"ended 2026-11-14 14:01 UTC, older than 7d retention"},
		{"per-camera-override-young", seg("lobby", now.Add(-6*day), time.Minute), nil, false,
			"ended 2026-11-16 14:01 UTC, within 7d retention (expires 2026-11-23 14:01 UTC)"},
		{"zero-retention-keeps-for-ever", seg("vault", now.Add(-400*day), time.Minute), nil, false,
			"no retention limit for camera vault"},
		{"held-by-camera-hold", seg("front", old, time.Minute),
			[]store.Hold{hold("H-0003", "front", old.Add(30*time.Second), old.Add(time.Hour))}, false,
			"held by H-0003 (case WMP-0003)"},
		{"held-by-all-cameras-hold", seg("front", old, time.Minute),
			[]store.Hold{hold("H-0004", "all", old.Add(-time.Hour), old.Add(time.Second))}, false,
			"held by H-0004 (case WMP-0004)"},
		{"held-by-two-holds", seg("front", old, time.Minute),
			[]store.Hold{hold("H-0001", "all", old, old.Add(time.Second)), hold("H-0002", "front", old, old.Add(time.Hour))}, false,
			"held by H-0001 (case WMP-0001), H-0002 (case WMP-0002)"},
		{"hold-on-other-camera", seg("front", old, time.Minute),
			[]store.Hold{hold("H-0005", "back", old, old.Add(time.Hour))}, true,
			"ended 2026-10-22 14:01 UTC, older than 30d retention"},
		{"hold-ends-as-segment-starts", seg("front", old, time.Minute),
			[]store.Hold{hold("H-0006", "front", old.Add(-time.Hour), old)}, true,
			"ended 2026-10-22 14:01 UTC, older than 30d retention"},
		{"hold-starts-as-segment-ends", seg("front", old, time.Minute),
			[]store.Hold{hold("H-0007", "front", old.Add(time.Minute), old.Add(time.Hour))}, true,
			"ended 2026-10-22 14:01 UTC, older than 30d retention"},
		{"released-hold-ignored", seg("front", old, time.Minute),
			[]store.Hold{func() store.Hold { h := hold("H-0008", "all", old, old.Add(time.Hour)); h.Released = true; return h }()}, true,
			"ended 2026-10-22 14:01 UTC, older than 30d retention"},
		{"overdue-hold-still-protects", seg("front", old, time.Minute),
			[]store.Hold{func() store.Hold {
				h := hold("H-0009", "front", old, old.Add(time.Hour))
				h.Review = now.Add(-day)
				return h
			}()}, false,
			"held by H-0009 (case WMP-0009)"},
		{"young-and-held-says-young", seg("front", now.Add(-time.Hour), time.Minute),
			[]store.Hold{hold("H-0010", "all", now.Add(-2*time.Hour), now)}, false,
			"ended 2026-11-22 13:01 UTC, within 30d retention (expires 2026-12-22 13:01 UTC)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := store.PlanRetention([]store.Segment{tc.seg}, tc.holds, now, p)
			if len(ds) != 1 {
				t.Fatalf("%d decisions", len(ds))
			}
			if ds[0].Delete != tc.delete || ds[0].Reason != tc.reason {
				t.Fatalf("got delete=%v %q\nwant delete=%v %q", ds[0].Delete, ds[0].Reason, tc.delete, tc.reason)
			}
		})
	}
	t.Run("order-and-purity", func(t *testing.T) {
		var cands []store.Segment
		for _, tc := range tests {
			cands = append(cands, tc.seg)
		}
		a := store.PlanRetention(cands, nil, now, p)
		b := store.PlanRetention(cands, nil, now, p)
		for i := range a {
			if a[i].Segment.Start != cands[i].Start || a[i].Segment.Camera != cands[i].Camera || a[i].Reason != b[i].Reason {
				t.Fatalf("decision %d out of order or not repeatable", i)
			}
		}
	})
}

// Thirty days pass through the clock. Three cameras record one-minute
// segments every hour (the camera "lobby" keeps 7 days, the others 30); a
// pass runs every simulated minute. Each segment goes in the first pass at
// or after its expiry, never before, with a disposal record.
func TestApplyRetention_ThirtyDays(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2,300 segments")
	}
	e := newEnv(t)
	s := e.open(t)
	s.TestOnlyNoSync()
	p := store.RetentionPolicy{Default: 30 * day, PerCamera: map[string]time.Duration{"lobby": 7 * day}}
	cams := []string{"front", "back", "lobby"}
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(32 * day)
	type rec struct {
		camera     string
		start, end time.Time
		sha        string
		deletedAt  time.Time
	}
	var written []*rec
	byKey := map[string]*rec{}
	for now := start; !now.After(end); now = now.Add(time.Minute) {
		e.clk.Set(now)
		if now.Minute() == 1 { // the segment [hh:00, hh:01) just finished
			for _, cam := range cams {
				r := writeSeg(t, s, cam, now.Add(-time.Minute), time.Minute)
				w := &rec{camera: cam, start: r.Seal.Start, end: r.Seal.End, sha: r.Seal.SHA256}
				written = append(written, w)
				byKey[cam+"@"+w.start.String()] = w
			}
		}
		deleted, kept, err := s.ApplyRetention(now, p, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(kept) != 0 {
			t.Fatalf("kept %v without holds", kept)
		}
		for _, d := range deleted {
			w := byKey[d.Camera+"@"+d.Start.String()]
			if w == nil || !w.deletedAt.IsZero() {
				t.Fatalf("%s: deleted %+v twice or unknown", now, d)
			}
			w.deletedAt = now
			if d.Why != "retention" || d.SHA256 != w.sha || !d.When.Equal(now) || !d.End.Equal(w.end) {
				t.Fatalf("disposal %+v", d)
			}
		}
	}
	counts := map[string][2]int{}
	for _, w := range written {
		expiry := w.end.Add(p.For(w.camera))
		c := counts[w.camera]
		switch {
		case expiry.After(end):
			if !w.deletedAt.IsZero() {
				t.Errorf("%s %s deleted at %s, expires %s", w.camera, w.start, w.deletedAt, expiry)
			}
			c[0]++
		case !w.deletedAt.Equal(expiry): // passes run every minute, on the minute
			t.Errorf("%s %s deleted at %s, want %s", w.camera, w.start, w.deletedAt, expiry)
		default:
			c[1]++
		}
		counts[w.camera] = c
	}
	for _, cam := range cams {
		segs, err := s.Segments(cam, time.Time{}, end.Add(day))
		if err != nil {
			t.Fatal(err)
		}
		ds, err := s.Disposals(cam, time.Time{}, end.Add(day))
		if err != nil {
			t.Fatal(err)
		}
		_, _, n, err := s.Span(cam)
		if err != nil {
			t.Fatal(err)
		}
		c := counts[cam]
		if len(segs) != c[0] || n != c[0] || len(ds) != c[1] {
			t.Errorf("%s: %d segments (span %d), %d disposals; want %d kept, %d deleted", cam, len(segs), n, len(ds), c[0], c[1])
		}
		for _, g := range segs {
			if !g.End.Add(p.For(cam)).After(end) {
				t.Errorf("%s: expired segment %s kept", cam, g.Start)
			}
			if _, err := os.Stat(g.Path); err != nil {
				t.Error(err)
			}
		}
		for _, d := range ds {
			if _, err := os.Stat(filepath.Join(e.dir, d.File)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("disposed file %s still there", d.File)
			}
		}
	}
	// lobby: 25 days of 24 segments went; front/back: 2 days did.
	if c := counts["lobby"]; c[1] != 25*24 {
		t.Errorf("lobby deleted %d", c[1])
	}
	if c := counts["front"]; c[1] != 2*24 {
		t.Errorf("front deleted %d", c[1])
	}
	batches, err := s.AuditEntries(store.AuditFilter{Action: "retention.batch"})
	if err != nil || len(batches) == 0 || batches[0].Params["count"] == "" || batches[0].Params["bytes"] == "" ||
		batches[0].Params["oldest"] == "" || batches[0].Params["newest"] == "" {
		t.Fatalf("batch entries %v %v", batches, err)
	}
	e.mustClean(t, s)
}

// Cameras keeping footage for different times: each retention pass starts
// where the last one stopped, so it reads the minute that expires, not the
// unexpired footage of the other cameras before the short retention's
// cutoff. Held footage is reported kept by every pass and deleted by the
// first after its hold is released; an entry added with an old start (a
// clock set back) is deleted by the next pass.
func TestApplyRetention_ResumesWhereLastPassStopped(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	s.TestOnlyNoSync()
	cams := []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7", "lobby"}
	d0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	sig := newBenchSigner()
	for d := range 3 {
		if err := s.BulkDayForTest(cams, d0.Add(time.Duration(d)*day), 1440, time.Minute, 1<<20, sig.armor); err != nil {
			t.Fatal(err)
		}
	}
	hold, err := s.AddHold(store.Hold{Camera: "lobby", From: d0.Add(2 * time.Hour), To: d0.Add(3 * time.Hour), Case: "WMP-7", Reason: "test"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	p := store.RetentionPolicy{Default: 30 * day, PerCamera: map[string]time.Duration{"lobby": day}}
	pass := func(now time.Time) (deleted, held int) {
		t.Helper()
		e.clk.Set(now)
		ds, kept, err := s.ApplyRetention(now, p, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Camera != "lobby" {
				t.Fatalf("%s: deleted %s's %s", now, d.Camera, d.File)
			}
		}
		return len(ds), len(kept)
	}
	// The first pass after Open walks from the oldest entry.
	now := d0.Add(day + 10*time.Minute)
	if n, _ := pass(now); n != 10 {
		t.Fatalf("first pass deleted %d, want 10", n)
	}
	for i := 1; i <= 200; i++ {
		now = now.Add(time.Minute)
		n, held := pass(now)
		minute := 10 + i // lobby's segment [minute-1, minute) has just expired
		switch inHold := minute > 120 && minute <= 180; {
		case inHold && (n != 0 || held != minute-120):
			t.Fatalf("pass at minute %d: deleted %d, kept %d held", minute, n, held)
		case !inHold && n != 1:
			t.Fatalf("pass at minute %d: deleted %d", minute, n)
		}
		// A pass walks from the last pass's first deletion (which it
		// looks at again, in case that pass failed) to its cutoff: after
		// the first pass's ten minutes, two minutes of 8 cameras. A walk
		// from the oldest entry would read every camera's entries since
		// then (94 keys at minute 12, growing by 8 a pass).
		if k := s.PassKeysForTest(); i > 1 && k > 3*len(cams) {
			t.Fatalf("pass at minute %d read %d keys", minute, k)
		}
	}
	if _, held := pass(now.Add(time.Minute)); held != 60 {
		t.Fatalf("kept %d held segments, want 60", held)
	}
	if _, err := s.ReleaseHold(hold.ID, "case closed", bob, false); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if n, held := pass(now); n != 61 || held != 0 {
		t.Fatalf("after the release: deleted %d, kept %d held", n, held)
	}
	// A segment recorded with a start long gone (the clock was set back).
	writeSeg(t, s, "lobby", d0.Add(30*time.Minute+time.Second), time.Minute)
	if n, _ := pass(now.Add(time.Minute)); n != 2 {
		t.Fatalf("after an old segment was added: deleted %d, want it and the minute's", n)
	}
}
