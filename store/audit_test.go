package store_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/store"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/ssh"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const auditBox = "kid-csc-01"

// tickClock advances one second at every reading.
type tickClock struct{ n atomic.Int64 }

func (c *tickClock) Now() time.Time {
	return t0.Add(time.Duration(c.n.Add(1)) * time.Second)
}

func (c *tickClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// auditEnv is a data directory with a real box key.
type auditEnv struct {
	dir string
	key *boxkey.Key
	clk *tickClock
}

func newAuditEnv(t *testing.T) *auditEnv {
	t.Helper()
	key, err := boxkey.Init(filepath.Join(t.TempDir(), "key", "box_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	e := &auditEnv{dir: filepath.Join(t.TempDir(), "data"), key: key, clk: &tickClock{}}
	if err := store.Init(e.dir, auditBox); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *auditEnv) open(t *testing.T, ro bool) *store.Store {
	t.Helper()
	opts := store.Options{BoxID: auditBox, Signer: e.key, Clock: e.clk, ReadOnly: ro}
	if !ro {
		ns, err := e.key.NoteSigner(auditBox)
		if err != nil {
			t.Fatal(err)
		}
		opts.NoteSigner = ns
	}
	s, err := store.Open(e.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (e *auditEnv) verifier(t *testing.T) note.Verifier {
	t.Helper()
	v, err := e.key.NoteVerifier(auditBox)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// independentVerifier builds the verifier from the raw public key with note
// alone, not through boxkey's helpers.
func (e *auditEnv) independentVerifier(t *testing.T) note.Verifier {
	t.Helper()
	pub := e.key.PublicKey().(ssh.CryptoPublicKey).CryptoPublicKey().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(auditBox, pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var (
	auditUsers   = []string{"alice", "bob", "carol"}
	auditActions = []string{"request.status", "camera.down", "camera.recording", "export.clip", "daemon.start"}
)

// fill appends n entries, from workers goroutines at once.
func fill(t *testing.T, s *store.Store, n, workers int) []store.AuditEntry {
	t.Helper()
	var (
		mu  sync.Mutex
		got []store.AuditEntry
		wg  sync.WaitGroup
	)
	errs := make(chan error, n)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				e, err := s.Audit(store.AuditEntry{
					User: auditUsers[i%len(auditUsers)], UID: 1000 + i%len(auditUsers),
					Action: auditActions[i%len(auditActions)],
					Params: map[string]string{"i": fmt.Sprint(i), "camera": "cam"},
				})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got = append(got, e)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b store.AuditEntry) int { return int(a.Seq) - int(b.Seq) })
	return got
}

func seqs(es []store.AuditEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestStore_Audit_Concurrent(t *testing.T) {
	e := newAuditEnv(t)
	s := e.open(t, false)
	appended := fill(t, s, 250, 10)
	for i, a := range appended {
		if a.Seq != uint64(i) || a.Result != "ok" || a.Time.Location() != time.UTC {
			t.Fatalf("appended[%d] = %+v", i, a)
		}
	}
	if n, err := s.AuditSize(); err != nil || n != 250 {
		t.Fatalf("AuditSize = %d, %v", n, err)
	}
	all, err := s.AuditEntries(store.AuditFilter{})
	if err != nil || len(all) != 250 {
		t.Fatalf("entries %d %v", len(all), err)
	}
	for i, a := range all {
		if a.Seq != uint64(i) || a.User != appended[i].User || !a.Time.Equal(appended[i].Time) {
			t.Fatalf("entry %d = %+v, appended %+v", i, a, appended[i])
		}
		if i > 0 && !a.Time.After(all[i-1].Time) {
			t.Fatalf("entry %d not after %d", i, i-1)
		}
	}
	size, cp, err := s.LatestCheckpoint()
	if err != nil || size != 200 || cp == nil {
		t.Fatalf("latest checkpoint %d %q %v", size, cp, err)
	}
	rep, err := s.VerifyAudit(e.verifier(t))
	if err != nil || len(rep.Problems) != 0 || rep.Entries != 250 || rep.Checkpoints != 2 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	if _, bad := rep.FirstBad(); bad {
		t.Fatal("FirstBad on a clean log")
	}

	count := func(f func(store.AuditEntry) bool) (n int) {
		for _, a := range all {
			if f(a) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want func(store.AuditEntry) bool
	}{
		{"action prefix", store.AuditFilter{Action: "camera."}, func(a store.AuditEntry) bool { return strings.HasPrefix(a.Action, "camera.") }},
		{"action exact", store.AuditFilter{Action: "camera.down"}, func(a store.AuditEntry) bool { return a.Action == "camera.down" }},
		{"no implicit prefix", store.AuditFilter{Action: "camera"}, func(store.AuditEntry) bool { return false }},
		{"user", store.AuditFilter{User: "bob"}, func(a store.AuditEntry) bool { return a.User == "bob" }},
		{"since", store.AuditFilter{Since: all[200].Time}, func(a store.AuditEntry) bool { return a.Seq >= 200 }},
		{"combined", store.AuditFilter{Since: all[100].Time, User: "alice", Action: "camera."},
			func(a store.AuditEntry) bool {
				return a.Seq >= 100 && a.User == "alice" && strings.HasPrefix(a.Action, "camera.")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AuditEntries(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != count(tc.want) {
				t.Fatalf("%d entries, want %d", len(got), count(tc.want))
			}
			for _, a := range got {
				if !tc.want(a) {
					t.Errorf("unwanted %+v", a)
				}
			}
			if !slices.IsSorted(seqs(got)) {
				t.Error("not in seq order")
			}
		})
	}
	got, err := s.AuditEntries(store.AuditFilter{Limit: 5, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var alice []uint64
	for _, a := range all {
		if a.User == "alice" {
			alice = append(alice, a.Seq)
		}
	}
	if want := alice[len(alice)-5:]; !slices.Equal(seqs(got), want) {
		t.Fatalf("limit: seqs %v, want the newest %v", seqs(got), want)
	}

	// The store's own writers audit too, with the process's user.
	if err := s.SetCameraState(store.CameraState{Camera: "cam", State: "down", Reason: "refused", Since: t0}); err != nil {
		t.Fatal(err)
	}
	own, _ := s.AuditEntries(store.AuditFilter{Limit: 1})
	if len(own) != 1 || own[0].Seq != 250 || own[0].Action != "camera.down" || own[0].User == "" ||
		own[0].Params["camera"] != "cam" || own[0].Params["reason"] != "refused" {
		t.Fatalf("camera state entry %+v", own)
	}
}

func TestStore_Audit_NoSigner(t *testing.T) {
	e := newAuditEnv(t)
	s, err := store.Open(e.dir, store.Options{BoxID: auditBox, Signer: sshsigOnly{e.key}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Audit(store.AuditEntry{Action: "daemon.start"}); !errors.Is(err, store.ErrNoSigner) {
		t.Fatalf("Audit: %v", err)
	}
	if err := s.SetCameraState(store.CameraState{Camera: "cam", State: "down"}); !errors.Is(err, store.ErrNoSigner) {
		t.Fatalf("SetCameraState: %v", err)
	}
	if sts, _ := s.CameraStates(); len(sts) != 0 {
		t.Fatalf("state changed without its audit entry: %+v", sts)
	}
	if _, err := s.Recover(nil); !errors.Is(err, store.ErrNoSigner) {
		t.Fatalf("Recover: %v", err)
	}
	// A note signer named for another box is refused at Open.
	ns, err := e.key.NoteSigner("other-box")
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := store.Open(e.dir, store.Options{BoxID: auditBox, Signer: e.key, NoteSigner: ns}); err == nil {
		t.Fatal("Open accepted a note signer for another box")
	}
}

// sshsigOnly hides the key's note methods.
type sshsigOnly struct{ k *boxkey.Key }

func (s sshsigOnly) Sign(ns string, msg []byte) ([]byte, error) { return s.k.Sign(ns, msg) }
func (s sshsigOnly) Verify(ns string, msg, sig []byte) error    { return s.k.Verify(ns, msg, sig) }

func TestStore_AuditInclusionProof(t *testing.T) {
	e := newAuditEnv(t)
	s := e.open(t, false)
	fill(t, s, 137, 4)
	msg, err := s.AuditCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	size, latest, err := s.LatestCheckpoint()
	if err != nil || size != 137 || !bytes.Equal(latest, msg) {
		t.Fatalf("latest %d %v", size, err)
	}
	n, err := note.Open(msg, note.VerifierList(e.independentVerifier(t)))
	if err != nil {
		t.Fatal(err)
	}
	origin, tree, err := store.ParseCheckpoint([]byte(n.Text))
	if err != nil || origin != auditBox+"/audit" || tree.N != 137 {
		t.Fatalf("checkpoint %q: %q %+v %v", n.Text, origin, tree, err)
	}
	// Lines 2 and 3 are tlog's tree encoding: tlog.ParseTree reads them
	// under its own (go.sum) origin line.
	_, rest, _ := strings.Cut(n.Text, "\n")
	tt, err := tlog.ParseTree([]byte("go.sum database tree\n" + rest))
	if err != nil || tt != tree {
		t.Fatalf("tlog.ParseTree: %+v %v", tt, err)
	}
	for _, seq := range []uint64{0, 1, 99, 100, 136} {
		rec, err := s.AuditRecord(seq)
		if err != nil {
			t.Fatal(err)
		}
		var a store.AuditEntry
		if err := json.Unmarshal(rec, &a); err != nil || a.Seq != seq {
			t.Fatalf("record %d: %s %v", seq, rec, err)
		}
		if again, _ := json.Marshal(a); !bytes.Equal(again, rec) {
			t.Errorf("record %d is not canonical:\n%s\n%s", seq, rec, again)
		}
		p, err := s.AuditInclusionProof(seq, uint64(tree.N))
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, int64(seq), tlog.RecordHash(rec)); err != nil {
			t.Errorf("proof of %d: %v", seq, err)
		}
		forged := bytes.Replace(rec, []byte(`"result":"ok"`), []byte(`"result":"no"`), 1)
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, int64(seq), tlog.RecordHash(forged)); err == nil {
			t.Errorf("proof of %d accepts an altered record", seq)
		}
	}
	if _, err := s.AuditInclusionProof(137, 137); err == nil {
		t.Error("proof of an entry outside the tree")
	}
	if _, err := s.AuditInclusionProof(0, 138); err == nil {
		t.Error("proof in a tree larger than the log")
	}
	// The checkpoint also opens with boxkey's verifier, and not with another key's.
	if _, err := note.Open(msg, note.VerifierList(e.verifier(t))); err != nil {
		t.Fatal(err)
	}
	other := newAuditEnv(t)
	if _, err := note.Open(msg, note.VerifierList(other.verifier(t))); err == nil {
		t.Fatal("another box key verified the checkpoint")
	}
}

// tamper edits index.db of a closed store directly.
func tamper(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func be(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func auditB(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(store.TestOnlyAuditBucket) }

// shift moves the entries at keys from..last by d (only the keys).
func shift(tx *bolt.Tx, from uint64, d int) error {
	b := auditB(tx)
	last := uint64(0)
	k, _ := b.Cursor().Last()
	last = binary.BigEndian.Uint64(k)
	move := func(i uint64) error {
		v := slices.Clone(b.Get(be(i)))
		if err := b.Delete(be(i)); err != nil {
			return err
		}
		return b.Put(be(uint64(int(i)+d)), v)
	}
	if d > 0 {
		for i := last; i >= from && i <= last; i-- {
			if err := move(i); err != nil {
				return err
			}
		}
		return nil
	}
	for i := from; i <= last; i++ {
		if err := move(i); err != nil {
			return err
		}
	}
	return nil
}

// renumber rewrites every entry's seq field to its key.
func renumber(tx *bolt.Tx) error {
	b := auditB(tx)
	type kv struct{ k, v []byte }
	var all []kv
	if err := b.ForEach(func(k, v []byte) error {
		var a store.AuditEntry
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		a.Seq = binary.BigEndian.Uint64(k)
		nv, err := json.Marshal(a)
		all = append(all, kv{slices.Clone(k), nv})
		return err
	}); err != nil {
		return err
	}
	for _, e := range all {
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

func entryJSON(seq uint64, user string) []byte {
	b, _ := json.Marshal(store.AuditEntry{Seq: seq, Time: t0, User: user, UID: 0, Action: "export.clip", Result: "ok"})
	return b
}

func deleteKeys(tx *bolt.Tx, keys ...uint64) error {
	for _, k := range keys {
		if err := auditB(tx).Delete(be(k)); err != nil {
			return err
		}
	}
	return nil
}

func TestStore_VerifyAudit_Tampering(t *testing.T) {
	// Each case starts from 250 entries: checkpoints at 100 and 200, head at 250.
	attackerKey, err := boxkey.Init(filepath.Join(t.TempDir(), "attacker"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		edit     func(tx *bolt.Tx) error
		kind     string
		firstBad uint64
		refuses  bool // appending afterwards fails with ErrAuditCorrupt
	}{
		{name: "altered user", kind: "altered", firstBad: 42, edit: func(tx *bolt.Tx) error {
			v := auditB(tx).Get(be(42))
			nv := bytes.Replace(v, []byte(`"user":"alice"`), []byte(`"user":"mallo"`), 1)
			if bytes.Equal(v, nv) {
				return errors.New("no user to replace")
			}
			return auditB(tx).Put(be(42), nv)
		}},
		{name: "one bit of the result", kind: "altered", firstBad: 7, edit: func(tx *bolt.Tx) error {
			v := slices.Clone(auditB(tx).Get(be(7)))
			v[len(v)-3] ^= 0x01
			return auditB(tx).Put(be(7), v)
		}},
		{name: "inserted at end", kind: "inserted", firstBad: 250, refuses: true, edit: func(tx *bolt.Tx) error {
			return auditB(tx).Put(be(250), entryJSON(250, "mallory"))
		}},
		{name: "inserted in middle", kind: "inserted", firstBad: 120, refuses: true, edit: func(tx *bolt.Tx) error {
			if err := shift(tx, 120, 1); err != nil {
				return err
			}
			return auditB(tx).Put(be(120), entryJSON(120, "mallory"))
		}},
		{name: "removed from middle", kind: "removed", firstBad: 150, edit: func(tx *bolt.Tx) error {
			return deleteKeys(tx, 150)
		}},
		{name: "removed and keys renumbered", kind: "removed", firstBad: 150, refuses: true, edit: func(tx *bolt.Tx) error {
			if err := deleteKeys(tx, 150); err != nil {
				return err
			}
			return shift(tx, 151, -1)
		}},
		{name: "swapped", kind: "reordered", firstBad: 10, edit: func(tx *bolt.Tx) error {
			a, b := slices.Clone(auditB(tx).Get(be(10))), slices.Clone(auditB(tx).Get(be(20)))
			if err := auditB(tx).Put(be(10), b); err != nil {
				return err
			}
			return auditB(tx).Put(be(20), a)
		}},
		{name: "truncated", kind: "truncated", firstBad: 247, refuses: true, edit: func(tx *bolt.Tx) error {
			return deleteKeys(tx, 247, 248, 249)
		}},
		{name: "truncated and rehashed", kind: "truncated", firstBad: 247, refuses: true, edit: func(tx *bolt.Tx) error {
			if err := deleteKeys(tx, 247, 248, 249); err != nil {
				return err
			}
			return store.RehashAuditForTest(tx)
		}},
		{
			// The attacker removes an entry, renumbers keys and seq fields and
			// recomputes every stored hash: only the signed trees catch it,
			// so the damage is located between checkpoints 100 and 200.
			name: "removed, renumbered and rehashed", kind: "altered", firstBad: 100, refuses: true,
			edit: func(tx *bolt.Tx) error {
				if err := deleteKeys(tx, 150); err != nil {
					return err
				}
				if err := shift(tx, 151, -1); err != nil {
					return err
				}
				if err := renumber(tx); err != nil {
					return err
				}
				return store.RehashAuditForTest(tx)
			},
		},
		{name: "altered after last checkpoint and rehashed", kind: "altered", firstBad: 200, refuses: true, edit: func(tx *bolt.Tx) error {
			v := auditB(tx).Get(be(230))
			if err := auditB(tx).Put(be(230), bytes.Replace(v, []byte(`"result":"ok"`), []byte(`"result":"no"`), 1)); err != nil {
				return err
			}
			return store.RehashAuditForTest(tx)
		}},
		{name: "checkpoint signature replaced", kind: "bad-checkpoint", firstBad: 99, edit: func(tx *bolt.Tx) error {
			cb := tx.Bucket(store.TestOnlyCheckpointsBucket)
			msg := slices.Clone(cb.Get(be(100)))
			// The signature line is "— <name> <base64(hash || sig)>\n": flip a byte of sig.
			i := bytes.LastIndexByte(msg[:len(msg)-1], ' ')
			sig, err := base64.StdEncoding.DecodeString(string(msg[i+1 : len(msg)-1]))
			if err != nil {
				return err
			}
			sig[len(sig)-1] ^= 0xff
			nmsg := append(slices.Clone(msg[:i+1]), base64.StdEncoding.EncodeToString(sig)...)
			return cb.Put(be(100), append(nmsg, '\n'))
		}},
		{name: "checkpoint deleted", kind: "bad-checkpoint", firstBad: 199, edit: func(tx *bolt.Tx) error {
			return tx.Bucket(store.TestOnlyCheckpointsBucket).Delete(be(200))
		}},
		{name: "head deleted", kind: "bad-head", firstBad: 200, refuses: true, edit: func(tx *bolt.Tx) error {
			return tx.Bucket(store.TestOnlyMetaBucket).Delete(store.TestOnlyAuditHeadKey)
		}},
		{
			// Truncate, rehash, and sign a new head with another key.
			name: "head forged with another key", kind: "bad-head", firstBad: 200, refuses: true,
			edit: func(tx *bolt.Tx) error {
				if err := deleteKeys(tx, 247, 248, 249); err != nil {
					return err
				}
				if err := store.RehashAuditForTest(tx); err != nil {
					return err
				}
				th, err := tlog.TreeHash(247, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
					hb := tx.Bucket(store.TestOnlyAuditHashesBucket)
					out := make([]tlog.Hash, len(idx))
					for i, x := range idx {
						copy(out[i][:], hb.Get(be(uint64(x))))
					}
					return out, nil
				}))
				if err != nil {
					return err
				}
				ns, err := attackerKey.NoteSigner(auditBox)
				if err != nil {
					return err
				}
				msg, err := note.Sign(&note.Note{Text: string(store.FormatCheckpoint(auditBox, tlog.Tree{N: 247, Hash: th}))}, ns)
				if err != nil {
					return err
				}
				return tx.Bucket(store.TestOnlyMetaBucket).Put(store.TestOnlyAuditHeadKey, msg)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAuditEnv(t)
			s := e.open(t, false)
			fill(t, s, 250, 1)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tamper(t, e.dir, tc.edit)

			s = e.open(t, false)
			rep, err := s.VerifyAudit(e.verifier(t))
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, p := range rep.Problems {
				kinds = append(kinds, p.Kind)
				t.Logf("%s", p)
			}
			if !slices.Contains(kinds, tc.kind) {
				t.Errorf("kinds %v, want %s", kinds, tc.kind)
			}
			if first, ok := rep.FirstBad(); !ok || first != tc.firstBad {
				t.Errorf("FirstBad = %d, %v; want %d", first, ok, tc.firstBad)
			}
			// Check reports the same problems.
			vs, err := s.Check(false, nil)
			if err != nil {
				t.Fatal(err)
			}
			audit := 0
			for _, v := range vs {
				if v.Kind == "audit" {
					audit++
				}
			}
			if audit != len(rep.Problems) {
				t.Errorf("Check: %d audit violations, VerifyAudit %d problems", audit, len(rep.Problems))
			}
			_, err = s.Audit(store.AuditEntry{Action: "daemon.start"})
			if tc.refuses != errors.Is(err, store.ErrAuditCorrupt) {
				t.Errorf("append after tampering: %v (want refused: %v)", err, tc.refuses)
			}
		})
	}
}

func TestStore_VerifyAudit_Empty(t *testing.T) {
	e := newAuditEnv(t)
	s := e.open(t, false)
	rep, err := s.VerifyAudit(e.verifier(t))
	if err != nil || len(rep.Problems) != 0 || rep.Entries != 0 {
		t.Fatalf("%+v %v", rep, err)
	}
	if _, err := s.AuditCheckpoint(); err == nil {
		t.Fatal("checkpoint of an empty log")
	}
	if size, cp, err := s.LatestCheckpoint(); size != 0 || cp != nil || err != nil {
		t.Fatalf("latest %d %q %v", size, cp, err)
	}
	// Read-only: VerifyAudit works, appending does not.
	fill(t, s, 3, 1)
	_ = s.Close()
	ro := e.open(t, true)
	if rep, err := ro.VerifyAudit(nil); err != nil || len(rep.Problems) != 0 || rep.Entries != 3 {
		t.Fatalf("read-only verify %+v %v", rep, err)
	}
	if _, err := ro.Audit(store.AuditEntry{Action: "x.y"}); !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("read-only append: %v", err)
	}
}
