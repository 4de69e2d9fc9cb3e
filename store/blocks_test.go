package store_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/council/cctv/store"
)

// disposalsJSON is every disposal record of camera, as JSON, in start order.
func disposalsJSON(t *testing.T, s *store.Store, camera string) []string {
	t.Helper()
	ds, err := s.Disposals(camera, t0.Add(-day), t0.Add(400*day))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		js, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(js))
	}
	return out
}

// Records packed into daily blocks read back exactly as before, through
// every reader: Disposals, DisposeSegment's idempotence, a new segment at a
// packed record's start (a new key), Check (deep), and FoldDisposals, which
// folds blocks whole into the same summaries. Records disposed late (after
// a hold) are packed later into blocks of their own, and the hour still
// being deleted stays as records until a later day starts.
func TestPackDisposals_ReadBackExactly(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	const n = 150 // two and a half hours of one-minute segments
	for i := range n {
		writeSeg(t, s, "a", t0.Add(time.Duration(i)*time.Minute), time.Minute)
		if i%7 == 0 {
			writeSeg(t, s, "b", t0.Add(time.Duration(i)*time.Minute), time.Minute, "clock-jump")
		}
	}
	// The next day's first minute: a's and b's day is complete once it is deleted.
	writeSeg(t, s, "a", t0.Add(10*time.Hour), time.Minute)
	writeSeg(t, s, "b", t0.Add(10*time.Hour), time.Minute)
	h, err := s.AddHold(store.Hold{Camera: "a", From: t0.Add(20 * time.Minute), To: t0.Add(23 * time.Minute), Case: "WMP-7", Reason: "incident"}, alice)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(31 * day)
	e.clk.Set(now)
	if _, _, err := s.ApplyRetention(now, store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FoldDisposals(now, 0, 0); err != nil { // records the batch, packs, folds nothing
		t.Fatal(err)
	}
	_, keys, err := s.BucketStatsForTest()
	if err != nil {
		t.Fatal(err)
	}
	// a: one block of the day (the held minutes 20–22 are not deleted:
	// 147 records), the next day's minute stays a record (nothing later
	// yet); b: the same, 22 records in its block.
	if keys["disposal_blocks"] != 2 || keys["disposals"]+keys["disposals_by_start"] != 2 {
		t.Fatalf("after packing: %d blocks, %d records", keys["disposal_blocks"], keys["disposals"]+keys["disposals_by_start"])
	}
	before := map[string][]string{}
	for _, cam := range []string{"a", "b"} {
		before[cam] = disposalsJSON(t, s, cam)
	}
	e.mustClean(t, s)

	// Compare with what the same index says without packing: records
	// written anew, never packed.
	unpacked := newEnv(t)
	unpacked.sig = e.sig
	u := unpacked.open(t)
	for i := range n {
		writeSeg(t, u, "a", t0.Add(time.Duration(i)*time.Minute), time.Minute)
		if i%7 == 0 {
			writeSeg(t, u, "b", t0.Add(time.Duration(i)*time.Minute), time.Minute, "clock-jump")
		}
	}
	writeSeg(t, u, "a", t0.Add(10*time.Hour), time.Minute)
	writeSeg(t, u, "b", t0.Add(10*time.Hour), time.Minute)
	if _, err := u.AddHold(store.Hold{Camera: "a", From: t0.Add(20 * time.Minute), To: t0.Add(23 * time.Minute), Case: "WMP-7", Reason: "incident"}, alice); err != nil {
		t.Fatal(err)
	}
	unpacked.clk.Set(now)
	if _, _, err := u.ApplyRetention(now, store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil { // records the last batch
		t.Fatal(err)
	}
	u = unpacked.open(t)
	for _, cam := range []string{"a", "b"} {
		got, want := before[cam], disposalsJSON(t, u, cam)
		if len(got) != len(want) {
			t.Fatalf("%s: %d records packed, %d unpacked", cam, len(got), len(want))
		}
		for i := range got {
			// The two indexes differ only in what was signed when (same key, same clock): equal but for that.
			if normSig(got[i]) != normSig(want[i]) {
				t.Fatalf("%s record %d:\npacked   %s\nunpacked %s", cam, i, got[i], want[i])
			}
		}
	}

	// A packed record is still found: disposing it again is a no-op, and
	// a new segment starting at its instant gets a new key and file.
	if err := s.DisposeSegment("a", t0.Add(5*time.Minute), "manual"); err != nil {
		t.Fatalf("dispose a packed record again: %v", err)
	}
	writeSeg(t, s, "a", t0.Add(5*time.Minute), time.Second)
	if err := s.DisposeSegment("a", t0.Add(5*time.Minute), "manual"); err != nil {
		t.Fatal(err)
	}
	if ds, err := s.Disposals("a", t0.Add(5*time.Minute), t0.Add(5*time.Minute+time.Millisecond)); err != nil || len(ds) != 2 ||
		ds[0].Why == ds[1].Why {
		t.Fatalf("records at a packed record's start: %+v %v", ds, err)
	}

	// Released, the held minutes are deleted late and packed on their own.
	if _, err := s.ReleaseHold(h.ID, "closed", bob, false); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	e.clk.Set(now)
	if _, _, err := s.ApplyRetention(now, store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FoldDisposals(now, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, keys, _ = s.BucketStatsForTest(); keys["disposal_blocks"] != 3 { // minutes 5 (manual) and 20–22 of the day in one
		t.Fatalf("after the held minutes: %d blocks", keys["disposal_blocks"])
	}
	all := disposalsJSON(t, s, "a")
	if len(all) != len(before["a"])+3+1 {
		t.Fatalf("a: %d records, want %d", len(all), len(before["a"])+4)
	}
	e.mustClean(t, s)

	// Folding takes the blocks whole: every record of a's day folds into
	// summaries, no block of a is left, and the chain still checks.
	now = now.Add(91 * day)
	e.clk.Set(now)
	folded, err := s.FoldDisposals(now, 90*day, 0)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := s.DisposalSummaries("a", t0.Add(-day), now)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, r := range sums {
		count += r.Summary.Count
	}
	if count != len(all) || folded < count {
		t.Fatalf("folded %d, a's summaries count %d, want %d", folded, count, len(all))
	}
	if _, keys, _ = s.BucketStatsForTest(); keys["disposal_blocks"] != 0 {
		t.Fatalf("%d blocks left after folding", keys["disposal_blocks"])
	}
	e.mustClean(t, s)
}

// normSig blanks the signature armor in a record's JSON: two indexes with
// the same signer and clock sign the same seals, but the test compares
// shape, not the signer's determinism.
func normSig(js string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return js
	}
	if sl, ok := m["seal"].(map[string]any); ok && sl["signature"] != "" {
		sl["signature"] = "set"
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// A record changed inside a block breaks the chain where the block meets
// the next seal (its successors' Prev is derived from it, the next block's
// or live seal's is stored), and a shallow Check names it.
func TestPackDisposals_TamperedBlockDetected(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	var rec store.SealRecord
	for i := range 130 {
		rec = writeSeg(t, s, "a", t0.Add(time.Duration(i)*time.Minute), time.Minute)
	}
	writeSeg(t, s, "a", t0.Add(10*time.Hour), time.Minute) // the next day: the first is complete
	now := t0.Add(31 * day)
	e.clk.Set(now)
	if _, _, err := s.ApplyRetention(now, store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FoldDisposals(now, 0, 0); err != nil {
		t.Fatal(err)
	}
	e.mustClean(t, s)
	// Every segment here has the same content: change a byte of the
	// first record's file hash in a's first block.
	sha, _ := hex.DecodeString(rec.Seal.SHA256)
	if err := s.EditBlockForTest("a", func(v []byte) []byte {
		i := bytes.Index(v, sha)
		if i < 0 {
			t.Fatal("no file hash in the block")
		}
		v[i+7] ^= 0x40
		return v
	}); err != nil {
		t.Fatal(err)
	}
	vs := e.check(t, s, false)
	if !slices.Contains(kinds(vs), "chain-broken") {
		t.Fatalf("violations after tampering: %v", vs)
	}
}
