package store

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// planPressure visits sealed segments oldest end first, across cameras,
// deciding to delete each one no hold covers until the deletions add up to
// needBytes or number limit (0: no limit); held segments met on the way are
// kept. keys holds the key of each decision. It merges the cameras' own
// orders (each camera's entries are in start order, so in end order but
// for a clock that stepped back): one walk per camera that has sealed
// entries, the head with the oldest end next.
func (s *Store) planPressure(tx *bolt.Tx, needBytes int64, holds []Hold, now time.Time, limit int) (ds []Decision, keys [][]byte, err error) {
	if needBytes <= 0 {
		return nil, nil, nil
	}
	segs, counts := segTableOf(tx), tx.Bucket(bktCounts)
	var heads pressureHeads
	if err := tx.Bucket(bktCameras).ForEach(func(k, _ []byte) error {
		if counts != nil {
			if n := counts.Get(k); len(n) == 8 && binary.BigEndian.Uint64(n) == 0 {
				return nil // nothing to walk for: the walk would read every entry to find so
			}
		}
		h := &pressureHead{it: segs.iter(string(k), nil, nil, false)}
		ok, err := h.next(tx)
		if ok {
			heads = append(heads, h)
		}
		return err
	}); err != nil {
		return nil, nil, err
	}
	heap.Init(&heads)
	var sum int64
	n := 0
	for len(heads) > 0 && sum < needBytes && (limit <= 0 || n < limit) {
		h := heads[0]
		g := Segment{Seal: h.e.Record.Seal, Path: s.abs(h.e.File), Signature: h.e.Record.Signature}
		d := Decision{Segment: g}
		if why := heldBy(holds, g); why != "" {
			d.Reason = why
		} else {
			d.Delete = true
			d.Reason = fmt.Sprintf("disk pressure: oldest unheld footage (ended %s, %s old)", fmtMinute(g.End), fmtAge(now.Sub(g.End)))
			sum += g.Bytes
			n++
		}
		ds = append(ds, d)
		keys = append(keys, slices.Clone(h.k))
		ok, err := h.next(tx)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			heap.Fix(&heads, 0)
		} else {
			heap.Pop(&heads)
		}
	}
	return ds, keys, nil
}

// pressureHead is a camera's walk at its next sealed entry (k is valid
// until the walk moves on).
type pressureHead struct {
	it *segIter
	k  []byte
	e  entry
}

// next moves h to the camera's next sealed entry; false when the camera
// has none left.
func (h *pressureHead) next(tx *bolt.Tx) (bool, error) {
	for k, v := h.it.next(); k != nil; k, v = h.it.next() {
		e, err := newCodec(tx).decodeEntry(k, v)
		if err != nil {
			return false, err
		}
		if e.State == stateSealed && e.Record != nil {
			h.k, h.e = k, e
			return true, nil
		}
	}
	return false, nil
}

// pressureHeads is a heap of cameras' heads, oldest end (then key) first.
type pressureHeads []*pressureHead

func (hs pressureHeads) Len() int { return len(hs) }
func (hs pressureHeads) Less(i, j int) bool {
	if c := hs[i].e.Record.Seal.End.Compare(hs[j].e.Record.Seal.End); c != 0 {
		return c < 0
	}
	return bytes.Compare(hs[i].k, hs[j].k) < 0
}
func (hs pressureHeads) Swap(i, j int) { hs[i], hs[j] = hs[j], hs[i] }
func (hs *pressureHeads) Push(x any)   { *hs = append(*hs, x.(*pressureHead)) }
func (hs *pressureHeads) Pop() any {
	old := *hs
	h := old[len(old)-1]
	*hs = old[:len(old)-1]
	return h
}

// PlanPressure says what disk pressure would delete to free needBytes: the
// oldest footage by end, across cameras, skipping (and listing, with the
// reason) footage under a hold in force, until the deleted segments' Bytes
// add up to needBytes or nothing is left. Its cost is proportional to what
// it deletes plus the held footage it passes.
func (s *Store) PlanPressure(needBytes int64, holds []Hold, now time.Time) ([]Decision, error) {
	var out []Decision
	err := s.view("plan disk pressure", func(tx *bolt.Tx) error {
		var err error
		out, _, err = s.planPressure(tx, needBytes, holds, now, 0)
		return err
	})
	return out, err
}

// ApplyPressure deletes, as one batch of at most limit segments (0: no
// limit), what PlanPressure plans with the holds in force, with why
// "disk-pressure", by DisposeSegment's crash-safe procedure, and returns the
// disposal records. Besides each "segment.dispose" entry, the batch is
// audited "pressure.batch" (params count, bytes, oldest, newest, need) in
// the transaction that records it. While deletion is paused it returns
// ErrDeletionPaused and deletes nothing: a wrong clock is no reason to
// destroy footage early. It returns no records and no error when only held
// footage is left.
func (s *Store) ApplyPressure(needBytes int64, now time.Time, limit int) ([]Disposal, error) {
	s.deleteMu.Lock()
	defer s.deleteMu.Unlock()
	var keys [][]byte
	err := s.view("disk pressure", func(tx *bolt.Tx) error {
		if p, err := getPause(tx); err != nil || p != nil {
			if err == nil {
				err = ErrDeletionPaused
			}
			return err
		}
		holds, err := activeHolds(tx)
		if err != nil {
			return err
		}
		ds, ks, err := s.planPressure(tx, needBytes, holds, now, limit)
		for i, d := range ds {
			if d.Delete {
				keys = append(keys, ks[i])
			}
		}
		return err
	})
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	audit := s.batchAudit("pressure.batch", []string{"need", strconv.FormatInt(needBytes, 10)})
	// On a disk full to the last block the batch may not commit: the
	// reserve makes room (reserve.go).
	return s.deleteOnFullDisk("disk pressure", keys, func(keys [][]byte) ([]Disposal, error) {
		return s.disposeKeys("disk pressure", keys, WhyDiskPressure, false, true, func(tx *bolt.Tx, ds []Disposal) ([]AuditEntry, error) {
			if len(ds) > 0 {
				at := s.clock.Now().UTC().Round(0).Format(time.RFC3339Nano)
				if err := tx.Bucket(bktMeta).Put(keyLastPressure, []byte(at)); err != nil {
					return nil, err
				}
			}
			return audit(tx, ds)
		})
	})
}

// LastPressure returns when disk pressure last deleted footage early, or the
// zero time if it never has. Status keeps the retention-shortfall alert up
// for a day after it.
func (s *Store) LastPressure() (time.Time, error) {
	var at time.Time
	err := s.view("last disk pressure", func(tx *bolt.Tx) error {
		raw := tx.Bucket(bktMeta).Get(keyLastPressure)
		if raw == nil {
			return nil
		}
		var err error
		at, err = time.Parse(time.RFC3339Nano, string(raw))
		return err
	})
	return at, err
}

// fmtAge writes an age as whole days, or hours under two days.
func fmtAge(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return fmt.Sprintf("%dh", max(d, 0)/time.Hour)
}
