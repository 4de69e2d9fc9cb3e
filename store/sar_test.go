package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/council/cctv/store"
)

func TestDueDate_OneCalendarMonth(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ received, due string }{
		{"2026-11-22T10:00:00Z", "2026-12-22T23:59:59Z"},
		{"2026-01-31T10:00:00Z", "2026-02-28T23:59:59Z"}, // no 31 February: the last day
		{"2028-01-31T10:00:00Z", "2028-02-29T23:59:59Z"}, // leap year
		{"2026-12-15T10:00:00Z", "2027-01-15T23:59:59Z"},
		{"2026-03-10T10:00:00Z", "2026-04-10T22:59:59Z"}, // end of the day in BST
	} {
		r, _ := time.Parse(time.RFC3339, tc.received)
		want, _ := time.Parse(time.RFC3339, tc.due)
		if got := store.DueDate(r, london); !got.Equal(want) {
			t.Errorf("DueDate(%s) = %s, want %s", tc.received, got, want)
		}
	}
}

// Opening a request holds its footage through a retention pass that would
// otherwise delete it; closing it needs an outcome and a second supervisor,
// and releases the holds.
func TestStore_SAR_HoldsFootageUntilClosed(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	base := t0.Add(-40 * day)
	for i := range 3 {
		writeSeg(t, s, "cam", base.Add(time.Duration(i)*time.Minute), time.Minute)
		writeSeg(t, s, "other", base.Add(time.Duration(i)*time.Minute), time.Minute)
	}
	req := store.SAR{Ref: "SAR-2026-014", Subject: "man in a red coat at the front desk", Received: e.clk.Now().Add(-2 * day),
		Cameras: []string{"cam"}, From: base.Add(time.Minute), To: base.Add(2 * time.Minute)}
	if _, err := s.OpenSAR(store.SAR{Ref: "bad ref!", Subject: "x", Received: e.clk.Now(), Cameras: []string{"cam"}, From: base, To: base.Add(time.Minute)}, alice, time.UTC); !errors.Is(err, store.ErrInvalidSAR) {
		t.Fatalf("bad reference: %v", err)
	}
	r, err := s.OpenSAR(req, alice, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Holds) != 1 || !r.Due.Equal(store.DueDate(req.Received, time.UTC)) {
		t.Fatalf("opened %+v", r)
	}
	if _, err := s.OpenSAR(req, alice, time.UTC); !errors.Is(err, store.ErrSARExists) {
		t.Fatalf("the same reference twice: %v", err)
	}
	deleted, kept, err := s.ApplyRetention(e.clk.Now(), store.RetentionPolicy{Default: 30 * day}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 5 || len(kept) != 1 || kept[0].Segment.Camera != "cam" || !kept[0].Segment.Start.Equal(base.Add(time.Minute)) {
		t.Fatalf("retention with the request open: deleted %d, kept %+v", len(deleted), kept)
	}
	if _, err := s.CloseSAR(r.Ref, "", bob, false); !errors.Is(err, store.ErrNoReason) {
		t.Fatalf("close without an outcome: %v", err)
	}
	if _, err := s.CloseSAR(r.Ref, "disclosed on 2026-12-01", alice, false); !errors.Is(err, store.ErrSamePerson) {
		t.Fatalf("closed by the supervisor who opened it: %v", err)
	}
	if open, _ := s.SARs(false); len(open) != 1 {
		t.Fatalf("a refused close closed it: %+v", open)
	}
	closed, err := s.CloseSAR(r.Ref, "disclosed on 2026-12-01", bob, false)
	if err != nil || !closed.Closed || closed.ClosedBy != bob {
		t.Fatalf("close: %+v %v", closed, err)
	}
	if hs, _ := s.Holds(false); len(hs) != 0 {
		t.Fatalf("holds still in force after the close: %+v", hs)
	}
	if deleted, _, err := s.ApplyRetention(e.clk.Now(), store.RetentionPolicy{Default: 30 * day}, 0); err != nil || len(deleted) != 1 {
		t.Fatalf("after the close: deleted %d %v", len(deleted), err)
	}
	for _, action := range []string{"sar.open", "sar.close", "hold.add", "hold.release"} {
		if ents, _ := s.AuditEntries(store.AuditFilter{Action: action}); len(ents) != 1 {
			t.Errorf("%d %s audit entries, want 1", len(ents), action)
		}
	}
	e.mustClean(t, s)
}
