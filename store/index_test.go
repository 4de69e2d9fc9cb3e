package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/council/cctv/store"
	bolt "go.etcd.io/bbolt"
)

// An index made before counts and pending existed gets them at Open, once,
// and loses the retired by_end bucket; Span is exact, and handles
// overlapping segments (a clock stepped back).
func TestOpen_BackfillsDerivedIndexes(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	writeSeg(t, s, "cam", t0, 10*time.Minute)                               // ends 14:10
	writeSeg(t, s, "cam", t0.Add(5*time.Minute), time.Minute, "clock-jump") // clock stepped back: ends 14:06, starts later
	writeSeg(t, s, "cam", t0.Add(-time.Hour), time.Minute)                  // oldest
	writeSeg(t, s, "other", t0.Add(-2*time.Hour), time.Minute)              // another camera
	if err := s.TestOnlyCrashDispose("other", t0.Add(-2*time.Hour), "retention", false); err != nil {
		t.Fatal(err) // a disposing entry: pending, not counted
	}
	check := func(s *store.Store) {
		t.Helper()
		oldest, newest, n, err := s.Span("cam")
		if err != nil || n != 3 || !oldest.Equal(t0.Add(-time.Hour)) || !newest.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("span %v %v %d %v", oldest, newest, n, err)
		}
		if _, _, n, _ := s.Span("other"); n != 0 {
			t.Fatalf("other: %d", n)
		}
		if _, _, n, _ := s.Span("none"); n != 0 {
			t.Fatalf("none: %d", n)
		}
	}
	check(s)
	_ = s.Close()
	db, err := bolt.Open(filepath.Join(e.dir, "index.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"counts", "pending"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		old, err := tx.CreateBucket([]byte("by_end")) // as an older release left it
		if err != nil {
			return err
		}
		return old.Put([]byte("row"), nil)
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	ro, err := store.Open(e.dir, store.Options{ReadOnly: true, Signer: e.sig})
	if err != nil {
		t.Fatal(err)
	}
	check(ro) // the scanning fallback
	_ = ro.Close()
	s = e.open(t)
	check(s)
	e.mustClean(t, s)
	if err := s.TestOnlyView(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("by_end")) != nil {
			t.Error("by_end still there after a read-write Open")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if acts := e.recover(t, s, "cam", "other"); len(acts) != 1 || acts[0].Kind != "disposed" {
		t.Fatalf("Recover after backfill of pending: %+v", acts) // the disposing entry is found
	}
	ds, err := s.ApplyPressure(1, e.clk.Now(), 0)
	if err != nil || len(ds) != 1 || ds[0].Start != t0.Add(-time.Hour) {
		t.Fatalf("pressure after backfill: %+v %v", ds, err)
	}
	e.mustClean(t, s)
}
