package export_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/council/cctv/export/evidence"
)

// TestSeal_StoreAndEvidenceAgree: the verifier's reading of a seal record
// (export/evidence, independent of the store) gives, for seals the store
// really made, the same canonical bytes and chain hashes as the store, and
// accepts their signatures.
func TestSeal_StoreAndEvidenceAgree(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 3)
	segs, err := f.st.SignedSegments("front-desk", t0, t0.Add(time.Minute))
	if err != nil || len(segs) != 3 {
		t.Fatalf("%v %d", err, len(segs))
	}
	key, err := evidence.ParsePublicKey(f.key.AuthorizedKey())
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range segs {
		b, err := json.MarshalIndent(s.Record(), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		rec, err := evidence.ParseSealRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := s.Record().Seal.Canonical()
		got, _ := rec.Seal.Canonical()
		if !bytes.Equal(got, want) || rec.Seal.Hash() != s.Record().Seal.Hash() {
			t.Errorf("seal %d: evidence encodes\n%s\nthe store\n%s", i, got, want)
		}
		if err := evidence.VerifySeal(rec, key); err != nil {
			t.Errorf("seal %d: %v", i, err)
		}
		if i > 0 && rec.Seal.Prev != segs[i-1].Record().Seal.Hash() {
			t.Errorf("seal %d does not chain", i)
		}
	}
}
