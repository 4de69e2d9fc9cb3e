package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/council/cctv/internal/seal"
)

// Seal is a seal as the recorder makes it: one definition with the store
// (internal/seal), so canonical bytes, hashes and signatures agree.
type Seal = seal.Seal

// SealRecord is a seal with its armored SSHSIG signature (namespace
// SealNamespace): the content of a seals/<camera>/<name>.json file.
type SealRecord = seal.Record

// ParseSealRecord decodes a seal record file, refusing unknown fields.
func ParseSealRecord(b []byte) (SealRecord, error) {
	var rec SealRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return SealRecord{}, fmt.Errorf("not a seal record: %w", err)
	}
	if dec.More() {
		return SealRecord{}, fmt.Errorf("not a seal record: data after the record")
	}
	return rec, nil
}

// VerifySeal checks rec's version and its signature by key over the
// canonical seal.
func VerifySeal(rec SealRecord, key *PublicKey) error {
	if rec.Seal.Version != 1 {
		return fmt.Errorf("seal of unknown version %d", rec.Seal.Version)
	}
	msg, err := rec.Seal.Canonical()
	if err != nil {
		return err
	}
	if err := key.Verify(SealNamespace, msg, []byte(rec.Signature)); err != nil {
		return fmt.Errorf("seal signature: %w", err)
	}
	return nil
}
