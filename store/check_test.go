package store_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
		b := tx.Bucket([]byte(store.EntriesBucketForTest))
		var k, v []byte
		c := b.Cursor()
		for k, v = c.First(); k != nil; k, v = c.Next() {
			js, err := store.EntryJSONForTest(tx, k, v)
			if err != nil {
				return err
			}
			var e map[string]any
			if err := json.Unmarshal(js, &e); err != nil {
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
	const n = 66 // seq 64 keeps its signature; the newest is seq 66
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
	// strangers: files outside every camera's directory.
	strangers := func(t *testing.T, e *env, recs []store.SealRecord) {
		writeFile(t, e.dir, "segments/lobby/2026-11-22/lobby_20261122T150000.000Z.ts", storetest.TS(5))
		writeFile(t, e.dir, "segments/notes.txt", []byte("x"))
	}
	symlink := func(t *testing.T, e *env, recs []store.SealRecord) {
		p := filepath.Join(e.dir, recs[1].Seal.File)
		if err := os.Rename(p, p+".moved"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Base(p)+".moved", p); err != nil {
			t.Fatal(err)
		}
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
	forgeRelinked := func(t *testing.T, e *env, recs []store.SealRecord) {
		forged := recs[1].Seal
		forged.Frames = 999
		editSeal(t, e.dir, recs[1].Seal.File, func(r map[string]any) {
			r["seal"].(map[string]any)["frames"] = 999
		})
		editSeal(t, e.dir, recs[2].Seal.File, func(r map[string]any) {
			r["seal"].(map[string]any)["prev"] = forged.Hash()
		})
	}
	// badSig damages the signature of recs[i], leaving its seal intact.
	badSig := func(i int) tamper {
		return func(t *testing.T, e *env, recs []store.SealRecord) {
			editSeal(t, e.dir, recs[i].Seal.File, func(r map[string]any) {
				sig := []byte(r["signature"].(string))
				j := bytes.LastIndex(sig, []byte("\n-----END")) - 8 // inside the signature's bytes
				sig[j] = map[bool]byte{true: 'B', false: 'A'}[sig[j] == 'A']
				r["signature"] = string(sig)
			})
		}
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
		{"files of no camera", []tamper{strangers}, false, []string{"extra-file", "extra-file"}},
		// The symlink is not the sealed file, and what it points to is a file nobody sealed.
		{"symlink", []tamper{symlink}, false, []string{"extra-file", "not-regular"}},
		// A changed seal fails its signature and no longer hashes to the next seal's prev.
		{"forged seal", []tamper{forge}, false, []string{"bad-signature", "chain-broken"}},
		// Editing prev breaks the link to seq 2 and the next link's hash;
		// seq 2 and 3 keep no signature of their own (vouch.go), and
		// nothing vouches for them any more.
		{"broken chain", []tamper{breakChain}, false, []string{"bad-signature", "bad-signature", "chain-broken", "chain-broken"}},
		// Re-linking the successor to a forged seal does not launder it:
		// the successor's own hash no longer matches the seal after it.
		{"forged and relinked", []tamper{forgeRelinked}, false, []string{"bad-signature", "chain-broken"}},
		// Shallow checks verify only the seals no later seal names by
		// hash: the newest here, whose signature vouches for the others.
		{"bad signature newest shallow", []tamper{badSig(n - 1)}, false, []string{"bad-signature"}},
		// Seq 64 keeps its signature (vouch.go): damaged, only deep finds it.
		{"bad signature older shallow", []tamper{badSig(63)}, false, nil},
		{"bad signature older deep", []tamper{badSig(63)}, true, []string{"bad-signature"}},
		{"all at once", []tamper{flipByte, truncate, extra, missing, forge}, true,
			[]string{"bad-signature", "chain-broken", "extra-file", "hash-mismatch", "missing-file", "size-mismatch"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.open(t)
			var recs []store.SealRecord
			for i := range n {
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
		// The derived index (camera count) still counts the entry, and the
		// seal before it, stored without a signature because the deleted
		// one vouched for it (vouch.go), is vouched for by nothing.
		{"middle", 1, []string{"bad-signature", "chain-seq", "index"}},
		{"newest", 3, []string{"bad-signature", "chain-head", "index"}},
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
				b := tx.Bucket([]byte(store.EntriesBucketForTest))
				var del []byte
				_ = b.ForEach(func(k, v []byte) error {
					var m map[string]any
					js, _ := store.EntryJSONForTest(tx, k, v)
					_ = json.Unmarshal(js, &m)
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

func TestCheck_OverlapIsViolation(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	storetest.WriteSegment(t, s, "cam", t0, 25)                          // t0 … t0+1s
	storetest.WriteSegment(t, s, "cam", t0.Add(900*time.Millisecond), 5) // starts 100 ms early
	storetest.WriteSegment(t, s, "cam", t0.Add(2*time.Second), 5)        // a hole is no violation
	vs := e.check(t, s, false)
	if len(vs) != 1 || vs[0].Kind != "overlap" || !strings.Contains(vs[0].Detail, "100ms") {
		t.Fatalf("violations %v, want one overlap by 100ms", vs)
	}
}

func TestStore_OpenGap_OngoingUntilClosed(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	down := t0.Add(-10 * time.Minute)
	if err := s.OpenGap("cam", down, "unreachable: connection refused"); err != nil {
		t.Fatal(err)
	}
	// A retry later keeps the start and updates the reason.
	if err := s.OpenGap("cam", t0, "stalled: no frames"); err != nil {
		t.Fatal(err)
	}
	gaps, err := s.Gaps("cam", down.Add(time.Minute), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 || !gaps[0].Ongoing || !gaps[0].From.Equal(down) || !gaps[0].To.Equal(e.clk.Now()) ||
		gaps[0].Reason != "stalled: no frames" {
		t.Fatalf("gaps %+v, want the ongoing outage from %s", gaps, down)
	}
	if g, ok, err := s.Outage("cam"); err != nil || !ok || !g.From.Equal(down) {
		t.Fatalf("outage %+v %v %v", g, ok, err)
	}
	up := t0.Add(5 * time.Minute)
	if _, ok, err := s.CloseGap("cam", up); err != nil || !ok {
		t.Fatalf("close gap: %v %v", ok, err)
	}
	gaps, err = s.Gaps("cam", down, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 || gaps[0].Ongoing || !gaps[0].From.Equal(down) || !gaps[0].To.Equal(up) {
		t.Fatalf("gaps %+v after close", gaps)
	}
	if _, ok, _ := s.Outage("cam"); ok {
		t.Fatal("outage still open after CloseGap")
	}
	e.mustClean(t, s)
}
