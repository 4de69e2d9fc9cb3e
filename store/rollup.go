package store

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// keyRetentionRollup is the running summary of retention's disposals not
// yet audited (JSON rollup), in bucket meta.
var keyRetentionRollup = []byte("retention_rollup")

// rollupEvery is how long retention's disposals accumulate before they are
// audited as one "retention.batch" entry.
const rollupEvery = time.Hour

// rollup is the running summary of retention disposals recorded since the
// last "retention.batch" audit entry. Its records hash continues across
// transactions (the SHA-256 state is kept), so the entry's hash is the one
// over all its records, whatever the passes that recorded them.
type rollup struct {
	Since  time.Time `json:"since"` // when the first of its records was recorded
	Passes int       `json:"passes"`
	Count  int       `json:"count"`
	Bytes  int64     `json:"bytes"`
	Oldest time.Time `json:"oldest"`
	Newest time.Time `json:"newest"`
	Hash   []byte    `json:"hash"` // marshalled SHA-256 state over "<file> <sha256>\n" lines
}

func getRollup(tx *bolt.Tx) (rollup, error) {
	var r rollup
	v := tx.Bucket(bktMeta).Get(keyRetentionRollup)
	if v == nil {
		return r, nil
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("meta %s: %w", keyRetentionRollup, err)
	}
	return r, nil
}

func putRollup(tx *bolt.Tx, r rollup) error {
	if r.Count == 0 {
		if tx.Bucket(bktMeta).Get(keyRetentionRollup) == nil {
			return nil
		}
		return tx.Bucket(bktMeta).Delete(keyRetentionRollup)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bktMeta).Put(keyRetentionRollup, v)
}

// add counts ds, recorded at now, into r.
func (r *rollup) add(ds []Disposal, now time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	h := sha256.New()
	if r.Count == 0 {
		r.Since = now.UTC().Round(0)
		r.Oldest, r.Newest = ds[0].Start, ds[0].End
	} else if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(r.Hash); err != nil {
		return fmt.Errorf("meta %s: hash state: %w", keyRetentionRollup, err)
	}
	for _, d := range ds {
		if d.Seal != nil {
			r.Bytes += d.Seal.Seal.Bytes
		}
		if d.Start.Before(r.Oldest) {
			r.Oldest = d.Start
		}
		if d.End.After(r.Newest) {
			r.Newest = d.End
		}
		fmt.Fprintf(h, "%s %s\n", d.File, d.SHA256)
	}
	r.Count += len(ds)
	r.Passes++
	var err error
	r.Hash, err = h.(encoding.BinaryMarshaler).MarshalBinary()
	return err
}

// due reports whether r holds records and began at least rollupEvery from
// now (either way: a clock stepped back does not hold it for ever).
func (r rollup) due(now time.Time) bool {
	d := now.Sub(r.Since)
	return r.Count > 0 && (d >= rollupEvery || d <= -rollupEvery)
}

// params are the "retention.batch" entry's parameters.
func (r rollup) params() []string {
	h := sha256.New()
	var sum []byte
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(r.Hash); err == nil {
		sum = h.Sum(nil)
	}
	return []string{"count", strconv.Itoa(r.Count), "bytes", strconv.FormatInt(r.Bytes, 10),
		"oldest", fmtTime(r.Oldest), "newest", fmtTime(r.Newest), "passes", strconv.Itoa(r.Passes),
		"since", fmtTime(r.Since), "records", hex.EncodeToString(sum)}
}
