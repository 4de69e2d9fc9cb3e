package store_test

import (
	"encoding/json"
	"slices"
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
	// 122.5 both are past a 90-day grace, but only day 0 is known to be
	// whole (a record of a later day is past grace too); day 1, the last,
	// waits a day after its last deletion.
	e.clk.Set(t0.Add(122*day + 12*time.Hour))
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

// Housekeeping folds hourly, while retention is still deleting a day: each
// camera's day still folds into one summary, once the whole day is past
// grace. Held footage does not hold its day back; deleted once the hold is
// released, it folds past grace in a summary of its own.
func TestFoldDisposals_HourlyPassesFoldWholeDays(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	day0 := t0.Truncate(day)
	const perDay = 48 // half-hour segments
	for i := range 3 * perDay {
		writeSeg(t, s, "a", day0.Add(time.Duration(i)*30*time.Minute), 30*time.Minute)
	}
	h, err := s.AddHold(store.Hold{Camera: "a", From: day0.Add(6 * time.Hour), To: day0.Add(6*time.Hour + time.Minute), Case: "WMP-9", Reason: "incident"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	policy, grace := store.RetentionPolicy{Default: 30 * day}, 2*day
	housekeep := func(from, to time.Time) {
		t.Helper()
		for now := from; now.Before(to); now = now.Add(time.Hour) {
			e.clk.Set(now)
			if _, _, err := s.ApplyRetention(now, policy, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.FoldDisposals(now, grace, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	daySums := func() map[string][]int {
		t.Helper()
		sums, err := s.DisposalSummaries("a", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]int{}
		for _, r := range sums {
			out[r.Summary.Day] = append(out[r.Summary.Day], r.Summary.Count)
		}
		return out
	}
	housekeep(day0.Add(30*day), day0.Add(37*day))
	got := daySums()
	if len(got) != 3 || !slices.Equal(got["2026-11-22"], []int{perDay - 1}) ||
		!slices.Equal(got["2026-11-23"], []int{perDay}) || !slices.Equal(got["2026-11-24"], []int{perDay}) {
		t.Fatalf("summaries by day with a segment of day 0 held: %v", got)
	}
	if segs, err := s.Segments("a", day0, day0.Add(day)); err != nil || len(segs) != 1 {
		t.Fatalf("held footage: %d segments, %v", len(segs), err)
	}
	e.mustClean(t, s)

	if _, err := s.ReleaseHold(h.ID, "closed", bob, false); err != nil {
		t.Fatal(err)
	}
	housekeep(day0.Add(37*day), day0.Add(41*day))
	got = daySums()
	if len(got) != 3 || !slices.Equal(got["2026-11-22"], []int{perDay - 1, 1}) {
		t.Fatalf("summaries by day after the release: %v", got)
	}
	e.mustClean(t, s)
}

// One fold transaction takes several cameras and is audited once: the
// audit log grows by a few "disposal.fold" entries a day, not one per
// camera. A limit stops a batch between days, and the next call goes on
// where it stopped.
func TestFoldDisposals_BatchesCamerasOneAuditEntry(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	day0 := t0.Truncate(day)
	const perDay = 24 // hour-long segments
	cams := []string{"a", "b", "c"}
	for _, cam := range cams {
		for i := range 2 * perDay {
			writeSeg(t, s, cam, day0.Add(time.Duration(i)*time.Hour), time.Hour)
		}
	}
	now := day0.Add(33 * day)
	e.clk.Set(now)
	if ds, _, err := s.ApplyRetention(now, store.RetentionPolicy{Default: 30 * day}, 0); err != nil || len(ds) != 3*2*perDay {
		t.Fatalf("retention: %d, %v", len(ds), err)
	}
	// Past grace and settled: every day of every camera is ready.
	now = now.Add(3 * day)
	e.clk.Set(now)
	if n, err := s.FoldDisposals(now, 2*day, perDay+1); err != nil || n != 2*perDay {
		t.Fatalf("fold with a limit of a day and one: folded %d, %v", n, err) // a's day 0; then a's day 1, whole
	}
	if n, err := s.FoldDisposals(now, 2*day, 0); err != nil || n != 4*perDay {
		t.Fatalf("fold the rest: folded %d, %v", n, err)
	}
	ents, err := s.AuditEntries(store.AuditFilter{Action: "disposal.fold"})
	if err != nil || len(ents) != 3 {
		t.Fatalf("fold audit entries: %+v %v", ents, err)
	}
	last := ents[2].Params
	if last["cameras"] != "2" || last["count"] != "96" || last["summaries"] != "4" || last["first_day"] != "2026-11-22" || last["last_day"] != "2026-11-23" {
		t.Fatalf("the last batch's entry: %v", last)
	}
	for _, cam := range cams {
		sums, err := s.DisposalSummaries(cam, time.Time{}, time.Time{})
		if err != nil || len(sums) != 2 || sums[0].Summary.Count != perDay || sums[1].Summary.Count != perDay {
			t.Fatalf("%s: summaries %+v, %v", cam, sums, err)
		}
	}
	e.mustClean(t, s)
}

// Each summary names the camera's previous one by hash, so a shallow check
// verifies the signature of the last summary only; the ones it vouches for
// are checked through the hashes. A summary folded late (footage held past
// its day) names the one with the latest day. A summary changed in the
// index is still found by a shallow check: its hash no longer matches its
// successor's PrevSummary, so its own signature is verified, and fails.
func TestCheck_SummariesNamePredecessors(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	day0 := t0.Truncate(day)
	const perDay = 24 // hour-long segments
	for i := range 4 * perDay {
		writeSeg(t, s, "a", day0.Add(time.Duration(i)*time.Hour), time.Hour)
	}
	h, err := s.AddHold(store.Hold{Camera: "a", From: day0.Add(time.Hour), To: day0.Add(time.Hour + time.Minute), Case: "WMP-4", Reason: "incident"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	policy, grace := store.RetentionPolicy{Default: 30 * day}, 2*day
	housekeep := func(at time.Time) {
		t.Helper()
		e.clk.Set(at)
		if _, _, err := s.ApplyRetention(at, policy, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FoldDisposals(at, grace, 0); err != nil {
			t.Fatal(err)
		}
	}
	housekeep(day0.Add(34 * day))
	housekeep(day0.Add(38 * day))
	if _, err := s.ReleaseHold(h.ID, "closed", bob, false); err != nil {
		t.Fatal(err)
	}
	housekeep(day0.Add(39 * day))
	housekeep(day0.Add(42 * day))
	sums, err := s.DisposalSummaries("a", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var days []string
	for _, r := range sums {
		days = append(days, r.Summary.Day)
	}
	// In key order: day 0's two summaries (its held hour folded late), then
	// days 1 to 3.
	if !slices.Equal(days, []string{"2026-11-22", "2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25"}) {
		t.Fatalf("summaries of days %v", days)
	}
	hash := func(i int) string {
		h, err := sums[i].Summary.Hash()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// Made in the order 0, 2, 3, 4 (day 38), then 1 (day 39, after the
	// release): the late one names day 3's.
	for i, want := range []string{"", hash(4), hash(0), hash(2), hash(3)} {
		if got := sums[i].Summary.PrevSummary; got != want {
			t.Fatalf("summary %d (%s) names %.16q, want %.16q", i, days[i], got, want)
		}
	}
	verified := func(deep bool) (n int) {
		t.Helper()
		vs, err := s.Check(deep, func(ns string, msg, sig []byte) error {
			if ns == store.SummaryNamespace {
				n++
			}
			return e.sig.Verify(ns, msg, sig)
		})
		if err != nil || len(vs) != 0 {
			t.Fatalf("check (deep %v): %v %v", deep, vs, err)
		}
		return n
	}
	if n := verified(false); n != 1 {
		t.Fatalf("a shallow check verified %d summary signatures, want 1 (the one no summary names)", n)
	}
	if n := verified(true); n != len(sums) {
		t.Fatalf("a deep check verified %d summary signatures, want %d", n, len(sums))
	}

	if err := s.TamperSummaryForTest("a", "2026-11-24", func(sm *store.DisposalSummary) { sm.Count-- }); err != nil {
		t.Fatal(err)
	}
	vs := e.check(t, s, false)
	if len(vs) != 2 || vs[0].Kind != "bad-signature" || vs[0].Path != "disposal-summary/2026-11-24" ||
		vs[1].Kind != "chain-broken" || vs[1].Path != "disposal-summary/2026-11-25" {
		t.Fatalf("shallow check of a changed summary: %v", vs)
	}
}
