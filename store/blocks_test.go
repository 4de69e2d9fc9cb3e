package store_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
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
	// a: the day packed (the held minutes 20–22 are not deleted: 147
	// records, in blocks of a quarter page), the next day's minute stays a
	// record (nothing later yet); b: the same, 22 records.
	single, packed, err := s.DisposalRecordsForTest()
	if err != nil || single != 2 || packed != 147+22 || keys["disposal_blocks"] < 2 {
		t.Fatalf("after packing: %d single and %d packed records in %d blocks (%v)", single, packed, keys["disposal_blocks"], err)
	}
	blocks := keys["disposal_blocks"]
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
	if _, keys, _ = s.BucketStatsForTest(); keys["disposal_blocks"] != blocks+1 { // minutes 5 (manual) and 20–22 of the day in one
		t.Fatalf("after the held minutes: %d blocks, want %d", keys["disposal_blocks"], blocks+1)
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

// A day of one camera's records (1,440 one-minute segments, about 70 KB
// packed) goes into blocks of at most half a page each, so that a leaf of
// bucket "disposal_blocks" is one page (or two, where bbolt leaves the
// last three values of a split node together): bbolt writes a leaf that
// does not fit in a page as a run of pages, which the free pages left
// scattered in the file cannot take, and the file grows (blockLimit). The blocks read back as the records, check clean, and fold whole
// into one summary of the day.
func TestPackDisposals_BlocksFitInPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := store.Init(dir, storetest.BoxID); err != nil {
		t.Fatal(err)
	}
	sig := newBenchSigner()
	from := t0.Truncate(day) // within disposalsJSON's window
	clk := &fakeClock{now: from}
	s, err := store.Open(dir, store.Options{BoxID: storetest.BoxID, Signer: sig, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	cams := []string{"cam00"}
	for d := range 2 {
		if err := s.BulkDayForTest(cams, from.Add(time.Duration(d)*day), 1440, time.Minute, 12<<20, sig.armor); err != nil {
			t.Fatal(err)
		}
	}
	now := from.Add(2 * day)
	clk.Set(now)
	if _, err := s.BulkExpireForTest(now, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	before := disposalsJSON(t, s, "cam00")
	if len(before) != 2*1440 {
		t.Fatalf("%d disposal records, want %d", len(before), 2*1440)
	}
	if _, err := s.FoldDisposals(now, 90*day, 0); err != nil { // packs the first day (the second may still grow)
		t.Fatal(err)
	}
	single, packed, err := s.DisposalRecordsForTest()
	if err != nil || single != 1440 || packed != 1440 {
		t.Fatalf("%d single and %d packed records, want 1440 each (%v)", single, packed, err)
	}
	st, err := s.BucketPagesForTest("disposal_blocks")
	if err != nil {
		t.Fatal(err)
	}
	pageSize := os.Getpagesize()
	fill := float64(st.LeafInuse) / float64((st.LeafPageN+st.LeafOverflowN)*pageSize)
	t.Logf("1440 records in %d blocks, %d leaf pages (%d overflow), %.0f%% full", st.KeyN, st.LeafPageN, st.LeafOverflowN, 100*fill)
	// One node of the day's blocks, split into pages of two: its last
	// three or four blocks may take a page more.
	if st.LeafOverflowN > 1 || st.KeyN < 2*st.LeafPageN-1 || fill < 0.9 {
		t.Fatalf("blocks of a day: %d in %d leaf pages and %d overflow pages, %.0f%% full; want two a page, one overflow page at most, pages at least 90%% full",
			st.KeyN, st.LeafPageN, st.LeafOverflowN, 100*fill)
	}
	if got := disposalsJSON(t, s, "cam00"); !slices.Equal(got, before) {
		t.Fatalf("packed records read back differently: %d records, %d before", len(got), len(before))
	}
	if vs, err := s.Check(true, sig.Verify); err != nil || len(vs) != 0 {
		t.Fatalf("check after packing: %v %v", vs, err)
	}

	now = now.Add(91 * day)
	clk.Set(now)
	if _, err := s.FoldDisposals(now, 90*day, 0); err != nil {
		t.Fatal(err)
	}
	sums, err := s.DisposalSummaries("cam00", from, from.Add(day))
	if err != nil || len(sums) != 1 || sums[0].Summary.Count != 1440 {
		t.Fatalf("summaries of the day: %+v %v", sums, err)
	}
	if st, err := s.BucketPagesForTest("disposal_blocks"); err != nil || st.KeyN != 0 {
		t.Fatalf("%d blocks left after folding the day (%v)", st.KeyN, err)
	}
	if vs, err := s.Check(true, sig.Verify); err != nil || len(vs) != 0 {
		t.Fatalf("check after folding: %v %v", vs, err)
	}
}
