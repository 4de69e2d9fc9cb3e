package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/council/cctv/store"
)

// Disposal records past the grace period fold into one signed summary per
// camera and day; Disposals still answers for the day, the chain still
// checks across the fold, and records inside the grace period stay.
func TestFoldDisposals(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	var recs []store.SealRecord
	for i := range 6 { // 14:00–14:05 on day 0, then 14:00–14:05 on day 1, camera "cam"
		at := t0.Add(time.Duration(i/3)*day + time.Duration(i%3)*time.Minute)
		recs = append(recs, writeSeg(t, s, "cam", at, time.Minute))
	}
	live := writeSeg(t, s, "cam", t0.Add(40*day), time.Minute)
	p := store.RetentionPolicy{Default: 30 * day}
	e.clk.Set(t0.Add(31 * day))
	if ds, _, err := s.ApplyRetention(t0.Add(31*day), p, 0); err != nil || len(ds) != 3 {
		t.Fatalf("retention day 0: %d %v", len(ds), err)
	}
	e.clk.Set(t0.Add(32 * day))
	if ds, _, err := s.ApplyRetention(t0.Add(32*day), p, 0); err != nil || len(ds) != 3 {
		t.Fatalf("retention day 1: %d %v", len(ds), err)
	}
	// Day 0's records were deleted at day 31, day 1's at day 32: at day
	// 121.5 only day 0's are past a 90-day grace.
	e.clk.Set(t0.Add(121*day + 12*time.Hour))
	n, err := s.FoldDisposals(e.clk.Now(), store.DefaultDisposalGrace, 0)
	if err != nil || n != 3 {
		t.Fatalf("folded %d, %v", n, err)
	}
	ds, err := s.Disposals("cam", t0.Add(-time.Hour), t0.Add(2*day))
	if err != nil || len(ds) != 4 {
		t.Fatalf("disposals %+v %v", ds, err)
	}
	sum := ds[0].Folded
	if sum == nil || sum.Count != 3 || sum.Day != "2026-11-22" || sum.SeqFirst != recs[0].Seal.Seq || sum.SeqLast != recs[2].Seal.Seq ||
		sum.LastSealHash != recs[2].Seal.Hash() || !ds[0].Start.Equal(t0) || !ds[0].End.Equal(t0.Add(3*time.Minute)) ||
		ds[0].Why != "retention" || sum.FirstFile != recs[0].Seal.File || sum.LastFile != recs[2].Seal.File {
		t.Fatalf("summary %+v (%+v)", ds[0], sum)
	}
	for _, d := range ds[1:] {
		if d.Folded != nil || d.Seal == nil {
			t.Fatalf("record %+v", d)
		}
	}
	e.mustClean(t, s)
	// A day later day 1 folds too; the live segment's chain links to it.
	e.clk.Set(t0.Add(123 * day))
	if n, err := s.FoldDisposals(e.clk.Now(), store.DefaultDisposalGrace, 0); err != nil || n != 3 {
		t.Fatalf("folded %d, %v", n, err)
	}
	sums, err := s.DisposalSummaries("cam", time.Time{}, time.Time{})
	if err != nil || len(sums) != 2 || sums[1].Summary.LastSealHash != live.Seal.Prev {
		t.Fatalf("summaries %+v %v", sums, err)
	}
	if err := e.sig.Verify(store.SummaryNamespace, mustJSON(t, sums[1].Summary), []byte(sums[1].Signature)); err != nil {
		t.Fatal(err)
	}
	ents, _ := s.AuditEntries(store.AuditFilter{Action: "disposal.fold"})
	if len(ents) != 2 {
		t.Fatalf("fold audit entries %+v", ents)
	}
	e.mustClean(t, s)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
