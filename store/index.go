package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Derived indexes. They change only in the transactions that change the
// segments bucket, so they agree with it after every commit:
//
//   - by_end holds one key per sealed or disposing entry: its seal's end
//     (8 bytes, as timeBytes) followed by the segment key. It is written in
//     the seal transaction and removed in the one that records the disposal.
//     Walking it from the start visits footage oldest end first, across
//     cameras (disk pressure).
//   - counts holds, per camera, the number of sealed entries (Span).
//   - pending holds the key of every open or disposing entry: the work a
//     crash can leave for Recover, found without reading every entry. A
//     key is added in the transaction that creates the open entry or marks
//     the entry disposing, and removed in the one that seals, removes or
//     records the disposal of it.

// endKey is the by_end key of the segment at segment key k ending at end.
func endKey(end time.Time, k []byte) []byte {
	out := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(k)), timeBytes(end))
	return append(out, k...)
}

// ensureDerived creates the derived buckets that are missing and builds
// them from the segments bucket (one pass, in this transaction). Buckets
// that exist are kept as they are.
func ensureDerived(tx *bolt.Tx) error {
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
	segs := tx.Bucket(bktSegments)
	if segs == nil {
		return nil
	}
	be, pb := tx.Bucket(bktByEnd), tx.Bucket(bktPending)
	counts := map[string]uint64{}
	err := segs.ForEach(func(k, v []byte) error {
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
		if !build[string(bktByEnd)] {
			return nil
		}
		return be.Put(endKey(e.Record.Seal.End, k), nil)
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
	if err := tx.Bucket(bktByEnd).Put(endKey(seal.End, k), nil); err != nil {
		return err
	}
	return addCount(tx, seal.Camera, 1)
}

// unindex removes the entry e at k from by_end and its activity (its row leaves the segments
// bucket in the same transaction); wasSealed also lowers its count.
func unindex(tx *bolt.Tx, k []byte, e entry, wasSealed bool) error {
	if err := deleteActivity(tx, k); err != nil {
		return err
	}
	if e.Record != nil {
		if err := tx.Bucket(bktByEnd).Delete(endKey(e.Record.Seal.End, k)); err != nil {
			return err
		}
	}
	if wasSealed {
		return addCount(tx, e.Camera, -1)
	}
	return nil
}

// checkIndex reports derived-index rows that disagree with entries (all of
// them, read in the same transaction): kind "index".
func checkIndex(tx *bolt.Tx, entries []keyed, add func(kind, camera, path, detail string)) {
	be, cb := tx.Bucket(bktByEnd), tx.Bucket(bktCounts)
	if be == nil || cb == nil {
		return // an old index opened read-only: Open builds them when writing
	}
	want := map[string]keyed{}
	counts := map[string]uint64{}
	for _, ke := range entries {
		if ke.e.Record == nil || (ke.e.State != stateSealed && ke.e.State != stateDisposing) {
			continue
		}
		want[string(endKey(ke.e.Record.Seal.End, ke.key))] = ke
		if ke.e.State == stateSealed {
			counts[ke.e.Camera]++
		}
	}
	n := 0
	_ = be.ForEach(func(k, _ []byte) error {
		if _, ok := want[string(k)]; !ok {
			cam := ""
			if len(k) > 8 {
				cam = keyCamera(k[8:])
			}
			add("index", cam, fmt.Sprintf("by_end/%x", k), "by_end row without a sealed entry")
			return nil
		}
		n++
		return nil
	})
	if n != len(want) {
		for k, ke := range want {
			if be.Get([]byte(k)) == nil {
				add("index", ke.e.Camera, ke.e.File, "sealed entry missing from by_end")
			}
		}
	}
	_ = cb.ForEach(func(k, v []byte) error {
		got := uint64(0)
		if len(v) == 8 {
			got = binary.BigEndian.Uint64(v)
		}
		if got != counts[string(k)] {
			add("index", string(k), "", fmt.Sprintf("segment count %d, sealed entries %d", got, counts[string(k)]))
		}
		delete(counts, string(k))
		return nil
	})
	for cam, c := range counts {
		add("index", cam, "", fmt.Sprintf("segment count missing, sealed entries %d", c))
	}
	checkPending(tx, entries, add)
}

// checkPending reports pending rows that disagree with the open and
// disposing entries: kind "index".
func checkPending(tx *bolt.Tx, entries []keyed, add func(kind, camera, path, detail string)) {
	pb := tx.Bucket(bktPending)
	if pb == nil {
		return // an old index opened read-only
	}
	want := map[string]keyed{}
	for _, ke := range entries {
		if ke.e.State == stateOpen || ke.e.State == stateDisposing {
			want[string(ke.key)] = ke
		}
	}
	_ = pb.ForEach(func(k, _ []byte) error {
		if _, ok := want[string(k)]; ok {
			delete(want, string(k))
			return nil
		}
		add("index", keyCamera(k), fmt.Sprintf("pending/%x", k), "pending row without an open or disposing entry")
		return nil
	})
	for _, ke := range want {
		add("index", ke.e.Camera, ke.e.File, ke.e.State+" entry missing from pending")
	}
}

// segKeyOfEnd returns the segment key inside a by_end key.
func segKeyOfEnd(k []byte) []byte {
	if len(k) <= 8 {
		return nil
	}
	return k[8:]
}
