package store

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Segment entries live in two buckets:
//
//	segments           segKey → entry (camera first; what schemas 1–6 wrote)
//	segments_by_start  start(8) ‖ camera ‖ 0 ‖ dup(2) → entry (schema 7)
//
// Every entry is written to the second, keyed by its start first, as
// single disposal records are (singles.go). A retention pass deletes the
// oldest minute of every camera: keyed camera first those entries sit on a
// page per camera, each under branches of its own (a pass wrote about 165
// pages at 64 cameras); keyed start first they share a few leaves. And a
// recorder appends each minute's segments after every key, so the pages
// fill as an append-only bucket's do (bbolt fill percent 0.95).
//
// The rest of the package names an entry by its segment key (segKey:
// camera first); segTable translates. Reading one camera's entries scans
// every camera's entries in the window, so its walks are bounded by time
// where they can be (iter's until). The walks that cannot be (a camera's
// oldest and newest entry for Span, the seal next to one for vouching,
// disk pressure's head per camera) find a recording camera's entry among
// the next few keys of every camera; for a camera with few, old entries
// they read every key up to them. Check reads a group of cameras per walk
// (scanCameras), and retention resumes where its last pass stopped
// (retention_resume.go). Migration moves schema 6's entries
// from "segments" into "segments_by_start" in batches (migrate.go); until it
// is done, and in an older index opened read-only, readers merge both.
var bktSegmentsByStart = []byte("segments_by_start")

// segTable is a transaction's view of the segment entries in both buckets
// ("segments_by_start" since schema 7; keyedPair).
type segTable struct{ keyedPair }

func segTableOf(tx *bolt.Tx) segTable {
	return segTable{keyedPair{old: tx.Bucket(bktSegments), byStart: tx.Bucket(bktSegmentsByStart), since: 7}}
}

// forEach calls fn with the segment key and value of every entry: those in
// "segments" in key order, then those in "segments_by_start" in start
// order. A key of segments_by_start that is not one this package writes is
// passed as it is (segKey's camera is then unreadable, as with any bad key).
func (t segTable) forEach(fn func(k, v []byte) error) error {
	if t.old != nil {
		if err := t.old.ForEach(fn); err != nil {
			return err
		}
	}
	return t.eachByStart(nil, nil, nil, func(k, sk, v []byte) (bool, error) {
		if k == nil {
			k = sk
		}
		return true, fn(k, v)
	})
}

// eachByStart calls fn with the segment key (nil if sk is not one this
// package writes), the key as stored and the value of each entry of
// segments_by_start from key from (nil: the first) that starts before
// until (8 bytes; nil: every entry), in start order, until fn returns
// false. With want, only entries whose camera it wants are passed (keys
// naming no camera are not), and the others cost no more than the cursor.
func (t segTable) eachByStart(from, until []byte, want func(cam []byte) bool, fn func(k, sk, v []byte) (bool, error)) error {
	if t.byStart == nil {
		return nil
	}
	var buf []byte
	c := t.byStart.Cursor()
	sk, v := c.First()
	if from != nil {
		sk, v = c.Seek(from)
	}
	for ; sk != nil; sk, v = c.Next() {
		if until != nil && bytes.Compare(sk[:min(8, len(sk))], until) >= 0 {
			return nil
		}
		if want != nil {
			if cam := startFirstCamera(sk); cam == nil || !want(cam) {
				continue
			}
		}
		k, ok := appendSegKey(buf[:0], sk)
		if ok {
			buf = k
		} else {
			k = nil
		}
		if more, err := fn(k, sk, v); err != nil || !more {
			return err
		}
	}
	return nil
}

// scanCameras calls fn with the segment key and value of every entry of the
// cameras in cams (by name: the index into cams), reading each bucket once.
// Check reads its cameras' entries so, a group at a time.
func (t segTable) scanCameras(cams []string, fn func(i int, k, v []byte) error) error {
	idx := make(map[string]int, len(cams))
	for i, c := range cams {
		idx[c] = i
	}
	if t.old != nil {
		c := t.old.Cursor()
		for i, cam := range cams {
			prefix := cameraPrefix(cam)
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if err := fn(i, k, v); err != nil {
					return err
				}
			}
		}
	}
	i := 0
	want := func(cam []byte) bool {
		var ok bool
		i, ok = idx[string(cam)]
		return ok
	}
	return t.eachByStart(nil, nil, want, func(k, _, v []byte) (bool, error) {
		if k == nil {
			return true, nil // not a key this package writes: Check reports it
		}
		return true, fn(i, k, v)
	})
}

// cameras adds the camera of every entry to cams; bad is called with the
// bucket and key of a key that names no camera.
func (t segTable) cameras(cams map[string]bool, bad func(bucket, k []byte)) {
	bucketCameras(t.old, cams, func(k []byte) { bad(bktSegments, k) })
	var last []byte
	_ = t.eachByStart(nil, nil, nil, func(k, sk, _ []byte) (bool, error) {
		switch cam := startFirstCamera(sk); {
		case k == nil:
			bad(bktSegmentsByStart, sk)
		case !bytes.Equal(cam, last):
			cams[string(cam)] = true
			last = append(last[:0], cam...)
		}
		return true, nil
	})
}

// walkStarts calls visit with the entries of cams that start before until
// (8 bytes), oldest start first, until visit returns false (nothing later
// is wanted): in an index not yet migrated, the entries in "segments"
// first, camera by camera.
func (t segTable) walkStarts(cams []string, until []byte, visit func(k, v []byte) (bool, error)) error {
	if t.old != nil {
		old := segTable{keyedPair{old: t.old}}
	cams:
		for _, cam := range cams {
			it := old.iter(cam, nil, until, false)
			for k, v := it.next(); k != nil; k, v = it.next() {
				more, err := visit(k, v)
				if err != nil {
					return err
				}
				if !more {
					continue cams // nothing later of cam
				}
			}
		}
	}
	return t.eachByStart(nil, until, nil, func(k, _, v []byte) (bool, error) {
		if k == nil {
			return true, nil // not a key this package writes: Check reports it
		}
		return visit(k, v)
	})
}

// newest returns the start of the newest entry of each of cams that has
// one. It walks segments_by_start back from its end until every camera is
// found: a few keys while they all record, the whole bucket at worst.
func (t segTable) newest(cams []string) map[string]time.Time {
	out := make(map[string]time.Time, len(cams))
	if t.old != nil {
		c := t.old.Cursor()
		for _, cam := range cams {
			if k, _ := lastOfCamera(c, cam); len(k) >= len(cam)+1+8 {
				out[cam] = keyTime(k[len(cam)+1:])
			}
		}
	}
	if t.byStart == nil {
		return out
	}
	want := make(map[string]bool, len(cams))
	for _, cam := range cams {
		want[cam] = true
	}
	left := len(want)
	c := t.byStart.Cursor()
	for sk, _ := c.Last(); sk != nil && left > 0; sk, _ = c.Prev() {
		cam := startFirstCamera(sk)
		if cam == nil || !want[string(cam)] {
			continue
		}
		want[string(cam)] = false
		left--
		if ts := keyTime(sk); ts.After(out[string(cam)]) {
			out[string(cam)] = ts
		}
	}
	return out
}

// appendSegKey appends to buf the segment key of segments_by_start key sk.
func appendSegKey(buf, sk []byte) ([]byte, bool) {
	cam := startFirstCamera(sk)
	if cam == nil || len(sk) != 8+len(cam)+1+2 {
		return buf, false
	}
	buf = append(buf, cam...)
	buf = append(buf, 0)
	buf = append(buf, sk[:8]...)
	return append(buf, sk[len(sk)-2:]...), true
}

// segIter walks one camera's entries in segment key order (start, then
// dup), forward or back, merging both buckets. Its keys are valid until
// the next call.
type segIter struct {
	back   bool
	prefix []byte // camera ‖ 0
	old    segSide
	now    segSide
	out    []byte
	taken  *segSide // the side whose entry next returned last, to move on at the next call
}

// segSide is one bucket's cursor in a segIter, with its current key (a
// segment key) and value; k is nil once the side is done.
type segSide struct {
	c     *bolt.Cursor
	k, v  []byte
	buf   []byte
	until []byte // 8-byte start the walk stops at (nil: none)
}

// iter starts a walk over camera's entries. Forward it begins at the first
// entry whose start(8) ‖ dup(2) is at least from, back at the last below it
// (from nil: the first, or the last); until, if not nil, is an 8-byte start
// (timeBytes) the walk stops at: forward, at the first start at or past it;
// back, at the first before it. A walk without until reads, for a camera
// that has no more entries, every later (earlier) entry of every camera.
func (t segTable) iter(camera string, from, until []byte, back bool) *segIter {
	it := &segIter{back: back, prefix: cameraPrefix(camera)}
	if t.old != nil {
		it.old = segSide{c: t.old.Cursor(), until: until}
		var k, v []byte
		switch {
		case back && from == nil:
			k, v = it.old.c.Seek(append([]byte(camera), 1))
		default:
			k, v = it.old.c.Seek(append(slices.Clone(it.prefix), from...))
		}
		if back {
			if k == nil {
				k, v = it.old.c.Last()
			} else {
				k, v = it.old.c.Prev()
			}
		}
		it.old.k, it.old.v = k, v
		it.settleOld()
	}
	if t.byStart != nil {
		it.now = segSide{c: t.byStart.Cursor(), until: until}
		var sk, v []byte
		switch {
		case from == nil && back:
			sk, v = it.now.c.Last()
		case from == nil:
			sk, v = it.now.c.First()
		default:
			seek := make([]byte, 0, len(from)+len(it.prefix))
			seek = append(seek, from[:min(8, len(from))]...)
			seek = append(seek, it.prefix...)
			if len(from) > 8 {
				seek = append(seek, from[8:]...)
			}
			sk, v = it.now.c.Seek(seek)
			if back {
				if sk == nil {
					sk, v = it.now.c.Last()
				} else {
					sk, v = it.now.c.Prev()
				}
			}
		}
		it.now.k, it.now.v = sk, v
		it.settleNow()
	}
	return it
}

// window calls fn with each of camera's entries whose start lies in
// [from-back, to), in start order.
func (t segTable) window(camera string, from, to time.Time, back time.Duration, fn func(k, v []byte) error) error {
	it := t.iter(camera, startBytes(from.Add(-back)), startBytes(to), false)
	for k, v := it.next(); k != nil; k, v = it.next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// at walks camera's entries that start at start exactly (every dup).
func (t segTable) at(camera string, start time.Time) *segIter {
	return t.iter(camera, startBytes(start), startBytes(start.Add(1)), false)
}

// startBytes is the 8-byte form of t in keys (timeBytes).
func startBytes(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 10), timeBytes(t))
}

// keySuffix is the start(8) ‖ dup(2) of segment key k (nil if malformed).
func keySuffix(k []byte) []byte {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) != i+1+8+2 {
		return nil
	}
	return k[i+1:]
}

// past reports whether 8-byte start ts is beyond the walk's bound.
func (it *segIter) past(ts, until []byte) bool {
	if until == nil {
		return false
	}
	if it.back {
		return bytes.Compare(ts, until) < 0
	}
	return bytes.Compare(ts, until) >= 0
}

// settleOld leaves the old side on a key of the camera within the bound, or
// done.
func (it *segIter) settleOld() {
	k := it.old.k
	if k == nil || !bytes.HasPrefix(k, it.prefix) || len(k) < len(it.prefix)+8 ||
		it.past(k[len(it.prefix):len(it.prefix)+8], it.old.until) {
		it.old.k = nil
	}
}

// settleNow moves the segments_by_start side on to a key of the camera
// within the bound, or to done, and makes its segment key.
func (it *segIter) settleNow() {
	for sk, v := it.now.k, it.now.v; sk != nil; sk, v = cursorStep(it.now.c, it.back) {
		if len(sk) < 8 || it.past(sk[:8], it.now.until) {
			break
		}
		if len(sk) == 8+len(it.prefix)+2 && bytes.Equal(sk[8:8+len(it.prefix)], it.prefix) {
			it.now.buf = append(append(append(it.now.buf[:0], it.prefix...), sk[:8]...), sk[len(sk)-2:]...)
			it.now.k, it.now.v = it.now.buf, v
			return
		}
	}
	it.now.k = nil
}

// lastOfCamera positions c on the last key of camera (a key under
// cameraPrefix) and returns it, or nil if camera has none.
func lastOfCamera(c *bolt.Cursor, camera string) (k, v []byte) {
	// The first key after every key of camera: camera, then 0x01.
	if k, v = c.Seek(append([]byte(camera), 1)); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, cameraPrefix(camera)) {
		return nil, nil
	}
	return k, v
}

// cursorStep moves c one key back or forward.
func cursorStep(c *bolt.Cursor, back bool) ([]byte, []byte) {
	if back {
		return c.Prev()
	}
	return c.Next()
}

// next returns the walk's next entry (segment key and value), or nil.
func (it *segIter) next() ([]byte, []byte) {
	a, b := &it.old, &it.now
	// Move on from the entry returned last only now, so that a walk that
	// stops at an entry reads no key past it: after a camera's last entry
	// before the bound, the next is found only by stepping over every other
	// camera's keys up to it.
	switch it.taken {
	case a:
		a.k, a.v = cursorStep(a.c, it.back)
		it.settleOld()
	case b:
		b.k, b.v = cursorStep(b.c, it.back)
		it.settleNow()
	}
	it.taken = nil
	var take *segSide
	switch {
	case a.k == nil && b.k == nil:
		return nil, nil
	case a.k == nil:
		take = b
	case b.k == nil:
		take = a
	default:
		c := bytes.Compare(a.k, b.k)
		if it.back {
			c = -c
		}
		if c <= 0 {
			take = a
		} else {
			take = b
		}
	}
	// Copy out: the key may be the side's buffer, which the next call
	// changes.
	it.out = append(it.out[:0], take.k...)
	it.taken = take
	return it.out, take.v
}
