package store_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// editSeal rewrites, directly in index.db, the seal record of the segment
// stored for file (the store must be closed).
func editSeal(t *testing.T, dir, file string, fn func(rec map[string]any)) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	found := false
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("segments"))
		var k, v []byte
		c := b.Cursor()
		for k, v = c.First(); k != nil; k, v = c.Next() {
			var e map[string]any
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if e["file"] != file {
				continue
			}
			fn(e["record"].(map[string]any))
			nv, err := json.Marshal(e)
			if err != nil {
				return err
			}
			found = true
			return b.Put(slices.Clone(k), nv)
		}
		return nil
	})
	if err != nil || !found {
		t.Fatalf("edit %s: found %v err %v", file, found, err)
	}
}

func TestCheck_DetectsTampering(t *testing.T) {
	type tamper func(t *testing.T, e *env, recs []store.SealRecord)
	flipByte := func(t *testing.T, e *env, recs []store.SealRecord) {
		p := filepath.Join(e.dir, recs[0].Seal.File)
		b, _ := os.ReadFile(p)
		b[500] ^= 0x01
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	truncate := func(t *testing.T, e *env, recs []store.SealRecord) {
		if err := os.Truncate(filepath.Join(e.dir, recs[1].Seal.File), 188*3); err != nil {
			t.Fatal(err)
		}
	}
	extra := func(t *testing.T, e *env, recs []store.SealRecord) {
		writeFile(t, e.dir, "segments/cam/2026-11-22/cam_20261122T150000.000Z.ts", storetest.TS(5))
	}
	missing := func(t *testing.T, e *env, recs []store.SealRecord) {
		if err := os.Remove(filepath.Join(e.dir, recs[2].Seal.File)); err != nil {
			t.Fatal(err)
		}
	}
	forge := func(t *testing.T, e *env, recs []store.SealRecord) {
		editSeal(t, e.dir, recs[1].Seal.File, func(r map[string]any) {
			r["seal"].(map[string]any)["frames"] = 999 // claim more footage; signature no longer matches
		})
	}
	breakChain := func(t *testing.T, e *env, recs []store.SealRecord) {
		editSeal(t, e.dir, recs[2].Seal.File, func(r map[string]any) {
			r["seal"].(map[string]any)["prev"] = recs[0].Seal.Hash()
		})
	}
	tests := []struct {
		name    string
		tampers []tamper
		deep    bool
		want    []string // sorted violation kinds
	}{
		{"altered byte deep", []tamper{flipByte}, true, []string{"hash-mismatch"}},
		{"altered byte shallow", []tamper{flipByte}, false, nil},
		{"truncated", []tamper{truncate}, false, []string{"size-mismatch"}},
		{"extra file", []tamper{extra}, false, []string{"extra-file"}},
		{"missing file", []tamper{missing}, false, []string{"missing-file"}},
		// A changed seal fails its signature and no longer hashes to the next seal's prev.
		{"forged seal", []tamper{forge}, false, []string{"bad-signature", "chain-broken"}},
		// Editing prev also invalidates the signature and the next link's hash.
		{"broken chain", []tamper{breakChain}, false, []string{"bad-signature", "chain-broken", "chain-broken"}},
		{"all at once", []tamper{flipByte, truncate, extra, missing, forge}, true,
			[]string{"bad-signature", "chain-broken", "extra-file", "hash-mismatch", "missing-file", "size-mismatch"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.open(t)
			var recs []store.SealRecord
			for i := range 4 {
				recs = append(recs, storetest.WriteSegment(t, s, "cam", t0.Add(time.Duration(i)*time.Second), 25))
			}
			if vs := e.check(t, s, true); len(vs) != 0 {
				t.Fatalf("clean store has violations: %v", vs)
			}
			_ = s.Close()
			for _, f := range tc.tampers {
				f(t, e, recs)
			}
			ro, err := store.Open(e.dir, store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			vs := e.check(t, ro, tc.deep)
			if got := kinds(vs); !slices.Equal(got, tc.want) {
				t.Fatalf("violations %v, want kinds %v:\n%v", got, tc.want, vs)
			}
		})
	}
}

// A seal removed from the index together with its file (the newest, or one in
// the middle) is noticed through the chain.
func TestCheck_DeletedSealedEntry(t *testing.T) {
	for _, tc := range []struct {
		name string
		idx  int
		want []string
	}{
		// The derived indexes (by_end row, camera count) still name the entry.
		{"middle", 1, []string{"chain-seq", "index", "index"}},
		{"newest", 3, []string{"chain-head", "index", "index"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.open(t)
			var recs []store.SealRecord
			for i := range 4 {
				recs = append(recs, storetest.WriteSegment(t, s, "cam", t0.Add(time.Duration(i)*time.Second), 25))
			}
			_ = s.Close()
			_ = os.Remove(filepath.Join(e.dir, recs[tc.idx].Seal.File))
			db, _ := bolt.Open(filepath.Join(e.dir, "index.db"), 0o600, nil)
			_ = db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("segments"))
				var del []byte
				_ = b.ForEach(func(k, v []byte) error {
					var m map[string]any
					_ = json.Unmarshal(v, &m)
					if m["file"] == recs[tc.idx].Seal.File {
						del = slices.Clone(k)
					}
					return nil
				})
				return b.Delete(del)
			})
			_ = db.Close()
			s = e.open(t)
			if got := kinds(e.check(t, s, true)); !slices.Equal(got, tc.want) {
				t.Fatalf("violations %v want %v", got, tc.want)
			}
		})
	}
}
