package store_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
)

// wantStored fails unless each of recs has its signature stored exactly
// when keep says so, and then the one made at sealing.
func wantStored(t *testing.T, s *store.Store, recs []store.SealRecord, keep func(i int) bool) {
	t.Helper()
	for i, r := range recs {
		got, err := s.StoredSignatureForTest(r.Seal.Camera, r.Seal.Start)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case keep(i) && got != r.Signature:
			t.Errorf("seal %d (seq %d): stored signature %q, want the one made at sealing", i, r.Seal.Seq, got)
		case !keep(i) && got != "":
			t.Errorf("seal %d (seq %d): signature kept, though its successor vouches for it", i, r.Seal.Seq)
		}
	}
}

// wantSigned fails unless SignedSegments gives every one of recs the
// signature made at sealing, byte for byte.
func wantSigned(t *testing.T, s *store.Store, recs []store.SealRecord, from, to time.Time) {
	t.Helper()
	segs, err := s.SignedSegments(recs[0].Seal.Camera, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != len(recs) {
		t.Fatalf("%d segments, want %d", len(segs), len(recs))
	}
	bySeq := map[uint64]string{}
	for _, r := range recs {
		bySeq[r.Seal.Seq] = r.Signature
	}
	for _, g := range segs {
		if g.Signature != bySeq[g.Seq] {
			t.Errorf("seq %d: signature made again differs from the one made at sealing:\n%s\nwant\n%s", g.Seq, g.Signature, bySeq[g.Seq])
		}
	}
}

// A kept seal loses its stored signature once its successor names it,
// except every 64th and the newest; SignedSegments makes each again, the
// same bytes as at sealing, and a deep check is clean.
func TestVouch_SignaturesStoredOnlyWhereNeeded(t *testing.T) {
	s := storetest.New(t)
	var recs []store.SealRecord
	for i := range 130 {
		recs = append(recs, writeSeg(t, s, "cam", t0.Add(time.Duration(i)*time.Second), time.Second))
	}
	wantStored(t, s, recs, func(i int) bool { return recs[i].Seal.Seq%64 == 0 || i == len(recs)-1 })
	wantSigned(t, s, recs, t0, t0.Add(time.Hour))
	// One segment from the middle of a run: the chain walks to seq 64.
	segs, err := s.SignedSegments("cam", t0.Add(10*time.Second), t0.Add(11*time.Second))
	if err != nil || len(segs) != 1 || segs[0].Signature != recs[10].Signature {
		t.Fatalf("one segment: %+v %v", segs, err)
	}
}

// With the real box key (SSHSIG, Ed25519), the signature made again is
// byte for byte the one made at sealing, and ssh-keygen verifies it.
func TestVouch_BoxKeySignsAgainIdentically(t *testing.T) {
	dir := t.TempDir()
	key, err := boxkey.Init(filepath.Join(dir, "box.key"))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := store.Init(data, storetest.BoxID); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(data, store.Options{BoxID: storetest.BoxID, Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var recs []store.SealRecord
	for i := range 3 {
		recs = append(recs, writeSeg(t, s, "cam", t0.Add(time.Duration(i)*time.Second), time.Second))
	}
	wantStored(t, s, recs, func(i int) bool { return i == 2 })
	wantSigned(t, s, recs, t0, t0.Add(time.Hour))

	msg, err := recs[0].Seal.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	segs, err := s.SignedSegments("cam", t0, t0.Add(time.Second))
	if err != nil || len(segs) != 1 {
		t.Fatalf("%+v %v", segs, err)
	}
	files := map[string]string{
		"seal.json":       string(msg),
		"seal.json.sig":   segs[0].Signature,
		"allowed_signers": key.AllowedSigners(storetest.BoxID, store.SealNamespace) + "\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", storetest.BoxID,
		"-n", store.SealNamespace, "-s", "seal.json.sig")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(string(msg))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify: %v\n%s", err, out)
	}
}

// A held segment outlives its successor: deleting the successor stores
// the held seal's signature again, so the seal stays verifiable after the
// successor's record is folded into a summary.
func TestVouch_HeldSealKeepsItsSignatureAfterTheFold(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	var recs []store.SealRecord
	for i := range 3 {
		recs = append(recs, writeSeg(t, s, "cam", t0.Add(time.Duration(i)*time.Minute), time.Minute))
	}
	if _, err := s.AddHold(store.Hold{Camera: "cam", From: t0.Add(time.Minute + time.Second), To: t0.Add(time.Minute + 2*time.Second),
		Case: "WMP-7", Reason: "incident at the counter"}, alice); err != nil {
		t.Fatal(err)
	}
	wantStored(t, s, recs, func(i int) bool { return i == 2 })
	e.clk.Set(t0.Add(31 * day))
	if ds, _, err := s.ApplyRetention(e.clk.Now(), store.RetentionPolicy{Default: 30 * day}, 0); err != nil || len(ds) != 2 {
		t.Fatalf("retention: %d %v", len(ds), err)
	}
	if err := s.FlushRetentionForTest(); err != nil {
		t.Fatal(err)
	}
	wantStored(t, s, recs[1:2], func(int) bool { return true })
	e.clk.Set(t0.Add(123 * day))
	if n, err := s.FoldDisposals(e.clk.Now(), store.DefaultDisposalGrace, 0); err != nil || n != 2 {
		t.Fatalf("folded %d, %v", n, err)
	}
	e.mustClean(t, s)
	wantSigned(t, s, recs[1:2], t0, t0.Add(time.Hour))
}

// A seal committed between a kept unsigned seal and its successor (the
// clock stepped back) first stores that seal's signature again.
func TestVouch_SealBetweenRestoresSignature(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	var recs []store.SealRecord
	for i := range 3 {
		recs = append(recs, writeSeg(t, s, "cam", t0.Add(time.Duration(i)*10*time.Second), time.Second))
	}
	wantStored(t, s, recs, func(i int) bool { return i == 2 })
	recs = append(recs, writeSeg(t, s, "cam", t0.Add(5*time.Second), time.Second, "clock-jump"))
	// Seq 1's successor (seq 2) is no longer next to it; seq 3's successor
	// (seq 4) is not next to it either, so it keeps its signature.
	wantStored(t, s, recs, func(i int) bool { return i != 1 })
	e.mustClean(t, s)
	wantSigned(t, s, recs, t0, t0.Add(time.Hour))
}

// A kept unsigned seal changed in index.db is not signed again: its chain
// no longer verifies, SignedSegments (what exports use) refuses it by
// name, and check reports it.
func TestVouch_TamperedSealIsNotSignedAgain(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	var recs []store.SealRecord
	for i := range 4 {
		recs = append(recs, writeSeg(t, s, "cam", t0.Add(time.Duration(i)*time.Second), time.Second))
	}
	if err := s.TamperSealForTest("cam", recs[1].Seal.Start, func(sl *store.Seal) { sl.Frames = 999 }); err != nil {
		t.Fatal(err)
	}
	_, err := s.SignedSegments("cam", t0, t0.Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), recs[1].Seal.File) || !strings.Contains(err.Error(), "no verified chain") {
		t.Fatalf("SignedSegments of a tampered seal: %v", err)
	}
	// The seal after it still verifies: its own chain is intact.
	segs, err := s.SignedSegments("cam", t0.Add(2*time.Second), t0.Add(3*time.Second))
	if err != nil || len(segs) != 1 || segs[0].Signature != recs[2].Signature {
		t.Fatalf("untouched seal: %+v %v", segs, err)
	}
	if got := kinds(e.check(t, s, false)); !slices.Equal(got, []string{"bad-signature", "chain-broken"}) {
		t.Fatalf("check: %v", got)
	}
}
