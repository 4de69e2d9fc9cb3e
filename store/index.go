package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Derived indexes. They change only in the transactions that change the
// segments bucket, so they agree with it after every commit:
//
//   - counts holds, per camera, the number of sealed entries (Span).
//   - pending holds the key of every open or disposing entry: the work a
//     crash can leave for Recover, found without reading every entry. A
//     key is added in the transaction that creates the open entry or marks
//     the entry disposing, and removed in the one that seals, removes or
//     records the disposal of it.

// ensureDerived creates the derived buckets that are missing and builds
// them from the segments bucket (one pass, in this transaction). Buckets
// that exist are kept as they are. It drops the retired by_end bucket
// (an end-ordered copy of every entry's key, 40 bytes a segment, that disk
// pressure walked before it merged the cameras' own orders).
func ensureDerived(tx *bolt.Tx) error {
	if tx.Bucket(bktRetiredByEnd) != nil {
		if err := tx.DeleteBucket(bktRetiredByEnd); err != nil {
			return fmt.Errorf("drop %s: %w", bktRetiredByEnd, err)
		}
	}
	build := map[string]bool{}
	for _, name := range derivedBuckets {
		if tx.Bucket(name) != nil {
			continue
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
		build[string(name)] = true
	}
	if len(build) == 0 {
		return nil
	}
	segs := segTableOf(tx)
	if segs.old == nil && segs.byStart == nil {
		return nil
	}
	pb := tx.Bucket(bktPending)
	counts := map[string]uint64{}
	err := segs.forEach(func(k, v []byte) error {
		e, err := newCodec(tx).decodeEntry(k, v)
		if err != nil {
			return err
		}
		if build[string(bktPending)] && (e.State == stateOpen || e.State == stateDisposing) {
			if err := pb.Put(k, nil); err != nil {
				return err
			}
		}
		if e.Record == nil || (e.State != stateSealed && e.State != stateDisposing) {
			return nil
		}
		if e.State == stateSealed {
			counts[e.Camera]++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("build derived indexes: %w", err)
	}
	if !build[string(bktCounts)] {
		return nil
	}
	cb := tx.Bucket(bktCounts)
	for cam, n := range counts {
		if err := cb.Put([]byte(cam), binary.BigEndian.AppendUint64(nil, n)); err != nil {
			return err
		}
	}
	return nil
}

// setPending adds (on) or removes the entry at k from the pending bucket,
// in the transaction that changes its state.
func setPending(tx *bolt.Tx, k []byte, on bool) error {
	b := tx.Bucket(bktPending)
	if b == nil {
		return fmt.Errorf("index has no %s bucket", bktPending)
	}
	if on {
		return b.Put(k, nil)
	}
	return b.Delete(k)
}

// addCount adds d to camera's count of sealed entries.
func addCount(tx *bolt.Tx, camera string, d int64) error {
	b := tx.Bucket(bktCounts)
	if b == nil {
		return nil // read-only open of an index without it: never written
	}
	var n int64
	if v := b.Get([]byte(camera)); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += d
	if n < 0 {
		return fmt.Errorf("segment count of %s would become %d", camera, n)
	}
	if n == 0 {
		return b.Delete([]byte(camera))
	}
	return b.Put([]byte(camera), binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// indexSealed records, in tx, that the entry at k is newly sealed with seal.
func indexSealed(tx *bolt.Tx, k []byte, seal Seal) error {
	return addCount(tx, seal.Camera, 1)
}

// unindex records that the entry e at k leaves the segments bucket (in the
// same transaction): its activity goes too; wasSealed lowers its camera's
// count.
func unindex(tx *bolt.Tx, k []byte, e entry, wasSealed bool) error {
	if err := deleteActivity(tx, k); err != nil {
		return err
	}
	if wasSealed {
		return addCount(tx, e.Camera, -1)
	}
	return nil
}
