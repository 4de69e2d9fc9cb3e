package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Seal is the recorder's signed statement about one master, as the store
// writes it (store.Seal). The signed message is its canonical JSON: encoding/
// json of this struct, fields in this order, times in UTC. The export tests
// check that this definition and the store's encode every seal identically.
type Seal struct {
	Version       int       `json:"version"` // 1
	Box           string    `json:"box"`
	Camera        string    `json:"camera"`
	Seq           uint64    `json:"seq"`  // per camera, from 1, consecutive
	File          string    `json:"file"` // relative to the recorder's data_dir
	Codec         string    `json:"codec"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Bytes         int64     `json:"bytes"`
	Frames        int64     `json:"frames"`
	SHA256        string    `json:"sha256"`
	TimeSource    string    `json:"time_source"`
	ClockOffsetMS int64     `json:"clock_offset_ms"`
	State         string    `json:"state"`
	Flags         []string  `json:"flags,omitempty"`
	Prev          string    `json:"prev"` // Hash of the previous seal of this camera; "" for Seq 1
	SealedAt      time.Time `json:"sealed_at"`
}

// SealRecord is a seal with its armored SSHSIG signature (namespace
// SealNamespace): the content of a seals/<camera>/<name>.json file.
type SealRecord struct {
	Seal      Seal   `json:"seal"`
	Signature string `json:"signature"`
}

// Canonical returns the bytes that are signed and hashed.
func (s Seal) Canonical() ([]byte, error) {
	s.Start, s.End, s.SealedAt = s.Start.UTC(), s.End.UTC(), s.SealedAt.UTC()
	return json.Marshal(s)
}

// Hash is the hex SHA-256 of the canonical JSON: what the next seal's Prev
// holds.
func (s Seal) Hash() string {
	b, err := s.Canonical()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

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
