package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/council/cctv/store"
)

// A retention pass is one transaction: it records the previous pass's
// batch and marks its own. Between passes the batch is listed as disposed;
// a crash before the next pass leaves it to Recover; retention is audited
// once an hour with a hash over exactly the records it covers.
func TestApplyRetention_RecordsBatchInNextPass(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	cams := []string{"door", "till"}
	for m := range 5 {
		for _, cam := range cams {
			writeSeg(t, s, cam, t0.Add(time.Duration(m)*time.Minute), time.Minute)
		}
	}
	p := store.RetentionPolicy{Default: 30 * day}
	pass := func(at time.Duration, want int) []store.Disposal {
		t.Helper()
		now := t0.Add(30*day + at)
		e.clk.Set(now)
		ds, _, err := s.ApplyRetention(now, p, 0)
		if err != nil || len(ds) != want {
			t.Fatalf("pass at +%v: deleted %d, %v; want %d", at, len(ds), err, want)
		}
		for _, d := range ds {
			if _, err := os.Stat(filepath.Join(e.dir, d.File)); !os.IsNotExist(err) {
				t.Fatalf("%s still on disk after its pass: %v", d.File, err)
			}
		}
		return ds
	}
	listed := func(want int) {
		t.Helper()
		n := 0
		for _, cam := range cams {
			ds, err := s.Disposals(cam, t0.Add(-time.Hour), t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			n += len(ds)
		}
		if n != want {
			t.Fatalf("Disposals lists %d, want %d", n, want)
		}
	}
	batches := func() []store.AuditEntry {
		t.Helper()
		es, err := s.AuditEntries(store.AuditFilter{Action: "retention.batch"})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}

	first := pass(2*time.Minute, 4) // minutes 0 and 1 of both cameras
	listed(4)                       // disposing, listed as the records they will be
	pass(3*time.Minute, 2)
	listed(6)
	if n := len(batches()); n != 0 {
		t.Fatalf("%d retention.batch entries within the hour, want 0", n)
	}
	// Crash: the second batch is unlinked but unrecorded; Recover finishes it.
	if err := s.CrashForTest(); err != nil {
		t.Fatal(err)
	}
	s = e.open(t)
	if _, err := s.Recover(cams); err != nil {
		t.Fatal(err)
	}
	listed(6)
	e.mustClean(t, s)
	// Two hours on: the pass appends the summary of the first batch (the
	// second was recorded by Recover, audited per segment).
	pass(2*time.Hour, 4)
	bs := batches()
	if len(bs) != 1 {
		t.Fatalf("%d retention.batch entries, want 1", len(bs))
	}
	h := sha256.New()
	for _, d := range first {
		fmt.Fprintf(h, "%s %s\n", d.File, d.SHA256)
	}
	if got, want := bs[0].Params["records"], hex.EncodeToString(h.Sum(nil)); got != want || bs[0].Params["count"] != "4" || bs[0].Params["passes"] != "1" {
		t.Fatalf("retention.batch %v; want count 4, passes 1, records %s", bs[0].Params, want)
	}
	if err := s.Close(); err != nil { // records the last batch
		t.Fatal(err)
	}
	s = e.open(t)
	listed(10)
	e.mustClean(t, s)
}

// A disposal record keeps its seal's signature only when no successor names
// the seal by hash; Check still finds a disposed seal whose content was
// changed (the link breaks) and an unsigned seal nothing vouches for.
func TestDisposal_SignatureKeptOnlyForAnchors(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	for m := range 3 {
		writeSeg(t, s, "door", t0.Add(time.Duration(m)*time.Minute), time.Minute)
	}
	now := t0.Add(30*day + 2*time.Minute)
	e.clk.Set(now)
	if _, _, err := s.ApplyRetention(now, store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // records the batch: minute 2 names minute 1
		t.Fatal(err)
	}
	s = e.open(t)
	if err := s.DisposeSegment("door", t0.Add(2*time.Minute), "test: the newest, no successor"); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Disposals("door", t0, t0.Add(time.Hour))
	if err != nil || len(ds) != 3 {
		t.Fatalf("disposals %d %v", len(ds), err)
	}
	for i, d := range ds {
		if signed := d.Seal.Signature != ""; signed != (i == 2) {
			t.Errorf("disposal %d (%s): signature kept %v, want %v", i, d.File, signed, i == 2)
		}
	}
	e.mustClean(t, s)

	// The unsigned seal of minute 0, edited: minute 1's link breaks.
	if err := s.TamperDisposalForTest("door", t0, func(d *store.Disposal) { d.Seal.Seal.Bytes++ }); err != nil {
		t.Fatal(err)
	}
	if got := kinds(e.check(t, s, false)); !slices.Contains(got, "chain-broken") {
		t.Errorf("after editing an unsigned disposed seal: %v, want chain-broken", got)
	}
}
