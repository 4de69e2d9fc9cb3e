package store

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Single disposal records, those not (yet) packed into blocks, live in
// two buckets:
//
//	disposals           segKey → Disposal (camera first; what schemas 1–4 wrote)
//	disposals_by_start  start(8) ‖ camera ‖ 0 ‖ dup(2) → Disposal (schema 5)
//
// Every record is written to the second, keyed by its start first. A
// retention pass records one disposal per camera, all of the same minute:
// keyed camera first they land on one page per camera (64 leaves and their
// branches at 64 cameras: a pass wrote about 260 pages), keyed start first
// they share one or two (about 167 pages a pass). Records an earlier release wrote to
// "disposals" are read where they are until FoldDisposals packs them, so
// the upgrade moves nothing. Both keys hold the same segment key's parts,
// and a record is in one bucket only. The value is the same encoding in
// both (codec.go), decoded against the segment key.
//
// Reading one camera's records from disposals_by_start scans all cameras'
// single records in the window; they are the records of the day or two
// not yet packed, so a scan is short.
var bktDisposalsByStart = []byte("disposals_by_start")

// startFirst returns the disposals_by_start key of segment key k.
func startFirst(k []byte) []byte {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) != i+1+8+2 {
		return nil
	}
	out := make([]byte, 0, len(k))
	out = append(out, k[i+1:i+9]...)
	out = append(out, k[:i+1]...)
	return append(out, k[i+9:]...)
}

// segKeyOf returns the segment key of disposals_by_start key sk.
func segKeyOf(sk []byte) ([]byte, bool) {
	if len(sk) < 8+1+2 {
		return nil, false
	}
	rest := sk[8:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 || len(rest) != i+1+2 {
		return nil, false
	}
	out := make([]byte, 0, len(sk))
	out = append(out, rest[:i+1]...)
	out = append(out, sk[:8]...)
	return append(out, rest[i+1:]...), true
}

// startFirstCamera is the camera of disposals_by_start key sk (nil if
// malformed), without allocating for a comparison.
func startFirstCamera(sk []byte) []byte {
	if len(sk) < 8+1+2 {
		return nil
	}
	i := bytes.IndexByte(sk[8:], 0)
	if i < 0 {
		return nil
	}
	return sk[8 : 8+i]
}

// keyedPair is a pair of buckets holding values by segment key: old keyed
// camera first (segKey, as earlier schemas wrote), byStart keyed start
// first (startFirst). Either may be missing in a transaction: old once
// emptied, byStart in an index older than the schema that added it
// (since) opened read-only. A value lives in one bucket only; every value
// is written keyed start first. Single disposal records (singles) and
// segment entries (segTable, segtable.go) are kept so.
type keyedPair struct {
	old, byStart *bolt.Bucket
	since        int // the schema that added byStart
}

// get returns the value at segment key k, or nil.
func (p keyedPair) get(k []byte) []byte {
	if p.byStart != nil {
		if sk := startFirst(k); sk != nil {
			if v := p.byStart.Get(sk); v != nil {
				return v
			}
		}
	}
	if p.old != nil {
		return p.old.Get(k)
	}
	return nil
}

// put writes the value at segment key k: keyed start first, unless the
// index has no byStart (or a test writes a schema before it), and
// removes any value at k from old.
func (p keyedPair) put(k, v []byte) error {
	if p.byStart != nil && !writesBelow(p.since) {
		if sk := startFirst(k); sk != nil {
			if p.old != nil {
				if err := p.old.Delete(k); err != nil {
					return err
				}
			}
			return p.byStart.Put(sk, v)
		}
	}
	return p.old.Put(k, v)
}

// delete removes the value at segment key k from whichever bucket holds it.
func (p keyedPair) delete(k []byte) error {
	if p.byStart != nil {
		if sk := startFirst(k); sk != nil {
			if err := p.byStart.Delete(sk); err != nil {
				return err
			}
		}
	}
	if p.old != nil {
		return p.old.Delete(k)
	}
	return nil
}

// singles is a transaction's view of the single disposal records in both
// buckets ("disposals_by_start" since schema 5).
type singles struct{ keyedPair }

func singlesOf(tx *bolt.Tx) singles {
	return singles{keyedPair{old: tx.Bucket(bktDisposals), byStart: tx.Bucket(bktDisposalsByStart), since: 5}}
}

// anyAt reports whether a record of camera starts at start (any counter).
func (s singles) anyAt(camera string, start time.Time) bool {
	prefix := timeKey(camera, start)
	if s.old != nil {
		if k, _ := s.old.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			return true
		}
	}
	if s.byStart != nil {
		sp := startFirst(append(prefix, 0, 0))
		sp = sp[:len(sp)-2]
		if k, _ := s.byStart.Cursor().Seek(sp); k != nil && bytes.HasPrefix(k, sp) {
			return true
		}
	}
	return false
}

// keyedValue is a record's segment key and value.
type keyedValue struct{ k, v []byte }

// camera calls fn for camera's records whose start is in [from, to) (a
// zero bound is open), in segment key order, with the segment key and the
// value (both copies: fn may change the buckets).
func (s singles) camera(camera string, from, to time.Time, fn func(k, v []byte) error) error {
	var fresh []keyedValue
	if err := s.fresh(camera, from, to, func(k, v []byte) error {
		fresh = append(fresh, keyedValue{k, slices.Clone(v)})
		return nil
	}); err != nil {
		return err
	}
	for _, kv := range mergeKeyed(fresh, s.oldRange(camera, from, to)) {
		if err := fn(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}

// ofCameras returns all the records of each of cams, in segment key order
// (copies), reading disposals_by_start once.
func (s singles) ofCameras(cams []string) map[string][]keyedValue {
	want := make(map[string]bool, len(cams))
	for _, c := range cams {
		want[c] = true
	}
	fresh := map[string][]keyedValue{}
	if s.byStart != nil {
		c := s.byStart.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			cam := startFirstCamera(k)
			if cam == nil || !want[string(cam)] {
				continue
			}
			if sk, ok := segKeyOf(k); ok {
				fresh[string(cam)] = append(fresh[string(cam)], keyedValue{sk, slices.Clone(v)})
			}
		}
	}
	out := make(map[string][]keyedValue, len(cams))
	for _, cam := range cams {
		// Keys start first sort by start, then camera, then counter: for
		// one camera, segment key order.
		out[cam] = mergeKeyed(fresh[cam], s.oldRange(cam, time.Time{}, time.Time{}))
	}
	return out
}

// oldRange returns camera's records in bucket disposals whose start is in
// [from, to) (a zero bound is open), in key order (copies).
func (s singles) oldRange(camera string, from, to time.Time) []keyedValue {
	if s.old == nil {
		return nil
	}
	prefix := cameraPrefix(camera)
	lo := prefix
	if !from.IsZero() {
		lo = timeKey(camera, from)
	}
	var hi []byte
	if !to.IsZero() {
		hi = timeKey(camera, to)
	}
	var out []keyedValue
	c := s.old.Cursor()
	for k, v := c.Seek(lo); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if hi != nil && bytes.Compare(k, hi) >= 0 {
			break
		}
		out = append(out, keyedValue{slices.Clone(k), slices.Clone(v)})
	}
	return out
}

// mergeKeyed merges two lists in segment key order into one.
func mergeKeyed(a, b []keyedValue) []keyedValue {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]keyedValue, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && bytes.Compare(a[0].k, b[0].k) < 0) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// fresh calls fn, in key order, for camera's records in disposals_by_start
// whose start is in [from, to) (a zero bound is open), with the segment
// key (a copy) and the value (in the transaction's pages), until fn
// returns an error, which it returns.
func (s singles) fresh(camera string, from, to time.Time, fn func(k, v []byte) error) error {
	if s.byStart == nil {
		return nil
	}
	c := s.byStart.Cursor()
	var k, v []byte
	if from.IsZero() {
		k, v = c.First()
	} else {
		k, v = c.Seek(binary.BigEndian.AppendUint64(nil, timeBytes(from)))
	}
	var end []byte
	if !to.IsZero() {
		end = binary.BigEndian.AppendUint64(nil, timeBytes(to))
	}
	for ; k != nil; k, v = c.Next() {
		if end != nil && bytes.Compare(k[:min(8, len(k))], end) >= 0 {
			break
		}
		if string(startFirstCamera(k)) != camera {
			continue
		}
		if sk, ok := segKeyOf(k); ok {
			if err := fn(sk, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// cameras adds the camera of every record to cams; bad is called with a
// key that names none.
func (s singles) cameras(cams map[string]bool, bad func(bucket, k []byte)) {
	bucketCameras(s.old, cams, func(k []byte) { bad(bktDisposals, k) })
	if s.byStart == nil {
		return
	}
	c := s.byStart.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		cam := startFirstCamera(k)
		if cam == nil {
			bad(bktDisposalsByStart, k)
			continue
		}
		if !cams[string(cam)] {
			cams[string(cam)] = true
		}
	}
}

// startSpans returns, per camera, the first and last start of its single
// records (one scan of disposals_by_start, two seeks per camera of
// disposals for cams).
func (s singles) startSpans(cams []string) map[string][2]time.Time {
	out := map[string][2]time.Time{}
	widen := func(cam string, t time.Time) {
		sp, ok := out[cam]
		if !ok {
			out[cam] = [2]time.Time{t, t}
			return
		}
		if t.Before(sp[0]) {
			sp[0] = t
		}
		if t.After(sp[1]) {
			sp[1] = t
		}
		out[cam] = sp
	}
	if s.old != nil {
		for _, cam := range cams {
			prefix := cameraPrefix(cam)
			c := s.old.Cursor()
			first, _ := c.Seek(prefix)
			if first == nil || !bytes.HasPrefix(first, prefix) {
				continue
			}
			first = slices.Clone(first)
			last, _ := lastOfCamera(c, cam)
			for _, k := range [][]byte{first, last} {
				if _, t, ok := keyStart(k); ok {
					widen(cam, t)
				}
			}
		}
	}
	if s.byStart != nil {
		c := s.byStart.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if cam := startFirstCamera(k); cam != nil {
				widen(string(cam), keyTime(k))
			}
		}
	}
	return out
}
