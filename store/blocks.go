package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Disposal blocks (schema 3): runs of the disposal records of one camera
// whose segments started in one UTC day, packed once that day's retention
// is over (packDisposals, run by FoldDisposals) into values of at most
// half a page (blockLimit: about 2 KB, 37 blocks for a day of
// one-minute segments), which FoldDisposals folds a day at a time into one
// summary. Blocks earlier releases wrote (a value per hour, then per day,
// about 70 KB) are read the same way. A record in a
// block is the same Disposal as in bucket "disposals", byte for byte once
// decoded, but it costs about a third: the key and bbolt's per-value header
// are paid once per block, and each record is written as its difference
// from the record before it (most fields repeat, times are small deltas,
// and a seal's Prev is left out when it is the hash of the seal before).
// What stays per record is the file's SHA-256 and a few varints.
//
// Bucket "disposal_blocks": the segment key of the block's first record →
//
//	tagBlock | count uvarint | record…
//	record:  same uvarint (bits below) | fields not marked same
//
// or, from schema 6, tagBlockDiff and each record's mask written as the
// fields that differ, in diffBits order (one byte when only the start,
// clock offset, losses, drops, flags or state differ).
//
// Fields, in order, each present unless its bit of same is set:
//
//	dup uvarint, name counter uvarint      (bit sameName: both 0)
//	start tdelta(previous end)              (bit sameStart: the previous end; the key's start for the first)
//	why str                                 (bit sameWhy)
//	codec str                               (bit sameCodec)
//	version uvarint                         (bit sameVersion)
//	seq uvarint                             (bit nextSeq: the previous seq + 1)
//	time source str                         (bit sameSource)
//	clock offset varint                     (bit sameOffset)
//	camera clock byte                       (bit sameCamClock)
//	lost varint                             (bit sameLost)
//	dropped varint                          (bit sameDropped)
//	state str                               (bit sameState)
//	nflags uvarint, flags str…              (bit sameFlags)
//	prev byte [32]                          (bit chainedPrev: the hash of the previous record's seal)
//	signature (encodeSignature)             (bit noSignature: empty)
//
// then always: when tdelta(previous when; the start for the first), end
// tdelta(start), bytes varint, frames varint, sha256 [32], sealed at
// tdelta(end). Only records with a seal whose hash, end and codec the
// record shares are packed; every block is decoded again and compared with
// its records (as JSON would show them: samejson.go) before it is written, else its records stay where
// they are. A block is written once and deleted only when FoldDisposals
// folds it whole.
var bktDisposalBlocks = []byte("disposal_blocks")

const tagBlock = 0x03

// tagBlockDiff (schema 6) is tagBlock with each record's mask written as
// the fields that differ (diffBits order: the fields that often differ
// first), so that a record like the one before it spends one byte on its
// mask, not three.
const tagBlockDiff = 0x05

// diffBits is the order of the same bits in a tagBlockDiff mask: bit i of
// the written mask is set when the field of same bit diffBits[i] differs.
// Frozen: bits are only ever appended.
var diffBits = []uint64{sameStart, sameOffset, sameLost, sameDropped, sameFlags, sameState, sameName,
	sameWhy, sameCodec, sameVersion, nextSeq, sameSource, sameCamClock, chainedPrev, noSignature}

// allSame is the mask with every same bit set.
const allSame = 1<<15 - 1

// diffMask returns the written mask of same (tagBlockDiff).
func diffMask(same uint64) uint64 {
	var m uint64
	for i, bit := range diffBits {
		if same&bit == 0 {
			m |= 1 << i
		}
	}
	return m
}

// sameMask is diffMask's inverse; a bit past diffBits is an error.
func sameMask(m uint64) (uint64, bool) {
	if m>>len(diffBits) != 0 {
		return 0, false
	}
	same := uint64(allSame)
	for i, bit := range diffBits {
		if m&(1<<i) != 0 {
			same &^= bit
		}
	}
	return same, true
}

// blockSpan is the longest time from a block's first start to any of its
// records' starts (records of one UTC day).
const blockSpan = 24 * time.Hour

// Bits of a block record's same mask.
const (
	sameName = 1 << iota
	sameStart
	sameWhy
	sameCodec
	sameVersion
	nextSeq
	sameSource
	sameOffset
	sameCamClock
	sameLost
	sameDropped
	sameState
	sameFlags
	chainedPrev
	noSignature
)

// packable reports whether d can be a block record: it has a seal that
// gives its hash and end, and nothing the block form leaves out.
func packable(d Disposal) bool {
	if d.Seal == nil || d.Folded != nil {
		return false
	}
	sl := d.Seal.Seal
	return d.SHA256 == sl.SHA256 && d.End.Equal(sl.End) && sl.Camera == d.Camera &&
		sl.File == d.File && sl.Start.Equal(d.Start) && sl.LeadingFrames == 0
}

// encodeBlock returns the block of the longest run of ds from its first
// record (one camera, key order; keys[i] is ds[i]'s key) whose value is at
// most limit bytes (at least one record), and how many records it holds;
// or false if the block form cannot hold them exactly.
func (c codecCtx) encodeBlock(keys [][]byte, ds []Disposal, limit int) ([]byte, int, bool, error) {
	if len(ds) == 0 || len(keys) != len(ds) {
		return nil, 0, false, nil
	}
	camera, _, ok := keyStart(keys[0])
	if !ok {
		return nil, 0, false, nil
	}
	tag := byte(tagBlockDiff)
	if writesBelow(6) {
		tag = tagBlock
	}
	// The records go into w, the tag and count before them at the end.
	w := encoder{b: make([]byte, 0, min(64*len(ds), limit+256))} // a record: about 50 bytes, 120 with its signature
	count := len(ds)
	var p Disposal
	var pHash string
	for i, d := range ds {
		recStart := len(w.b)
		cam, start, ok := keyStart(keys[i])
		if !ok || cam != camera || d.Camera != camera || !start.Equal(d.Start) || !packable(d) {
			return nil, 0, false, nil
		}
		dup := uint16(keys[i][len(keys[i])-2])<<8 | uint16(keys[i][len(keys[i])-1])
		n, ok := nameCounter(camera, start, d.File)
		if !ok {
			return nil, 0, false, nil
		}
		sl := d.Seal.Seal
		sha, ok := rawHash(sl.SHA256)
		if !ok {
			return nil, 0, false, nil
		}
		if sl.Box != c.box {
			return nil, 0, false, nil
		}
		prevEnd := p.End
		var ps *Seal
		if i == 0 {
			prevEnd = start
		} else {
			ps = &p.Seal.Seal
		}
		var same uint64
		set := func(bit uint64, v bool) {
			if v {
				same |= bit
			}
		}
		set(sameName, dup == 0 && n == 0)
		set(sameStart, start.Equal(prevEnd))
		set(sameWhy, i > 0 && d.Why == p.Why)
		set(sameCodec, ps != nil && sl.Codec == ps.Codec)
		set(sameVersion, ps != nil && sl.Version == ps.Version)
		set(nextSeq, ps != nil && sl.Seq == ps.Seq+1)
		set(sameSource, ps != nil && sl.TimeSource == ps.TimeSource)
		set(sameOffset, ps != nil && sl.ClockOffsetMS == ps.ClockOffsetMS)
		set(sameCamClock, ps != nil && sl.CameraClock == ps.CameraClock)
		set(sameLost, ps != nil && sl.LostPackets == ps.LostPackets)
		set(sameDropped, ps != nil && sl.DroppedFrames == ps.DroppedFrames)
		set(sameState, ps != nil && sl.State == ps.State)
		set(sameFlags, ps != nil && slices.Equal(sl.Flags, ps.Flags) && (sl.Flags == nil) == (ps.Flags == nil))
		set(chainedPrev, ps != nil && sl.Prev != "" && sl.Prev == pHash)
		set(noSignature, d.Seal.Signature == "")
		if tag == tagBlockDiff {
			w.uvarint(diffMask(same))
		} else {
			w.uvarint(same)
		}
		if same&sameName == 0 {
			w.uvarint(uint64(dup))
			w.uvarint(uint64(n))
		}
		if same&sameStart == 0 {
			w.tdelta(start, prevEnd)
		}
		if same&sameWhy == 0 {
			w.str(d.Why)
		}
		if same&sameCodec == 0 {
			w.str(sl.Codec)
		}
		if same&sameVersion == 0 {
			w.uvarint(uint64(sl.Version))
		}
		if same&nextSeq == 0 {
			w.uvarint(sl.Seq)
		}
		if same&sameSource == 0 {
			w.str(sl.TimeSource)
		}
		if same&sameOffset == 0 {
			w.varint(sl.ClockOffsetMS)
		}
		if same&sameCamClock == 0 {
			w.bool1(sl.CameraClock)
		}
		if same&sameLost == 0 {
			w.varint(sl.LostPackets)
		}
		if same&sameDropped == 0 {
			w.varint(sl.DroppedFrames)
		}
		if same&sameState == 0 {
			w.str(sl.State)
		}
		if same&sameFlags == 0 {
			if sl.Flags == nil {
				w.uvarint(0)
			} else {
				w.uvarint(uint64(len(sl.Flags)) + 1)
				for _, f := range sl.Flags {
					w.str(f)
				}
			}
		}
		if same&chainedPrev == 0 {
			if sl.Prev == "" {
				w.byte1(0)
			} else {
				prev, ok := rawHash(sl.Prev)
				if !ok {
					return nil, 0, false, nil
				}
				w.byte1(1)
				w.raw(prev)
			}
		}
		if same&noSignature == 0 {
			if ok, err := c.encodeSignature(&w, d.Seal.Signature); err != nil || !ok {
				return nil, 0, false, err
			}
		}
		whenBase := p.When
		if i == 0 {
			whenBase = start
		}
		w.tdelta(d.When, whenBase)
		w.tdelta(d.End, start)
		w.varint(sl.Bytes)
		w.varint(sl.Frames)
		w.raw(sha)
		w.tdelta(sl.SealedAt, sl.End)
		if i > 0 && blockHeaderLen(i+1)+len(w.b) > limit {
			w.b, count = w.b[:recStart], i // this record would take the block past limit
			break
		}
		p = d
		pHash = sl.Hash()
	}
	v := make([]byte, 0, blockHeaderLen(count)+len(w.b))
	v = append(v, tag)
	v = binary.AppendUvarint(v, uint64(count))
	return append(v, w.b...), count, true, nil
}

// blockHeaderLen is the length of the tag and count of a block of n records.
func blockHeaderLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return 1 + binary.PutUvarint(b[:], uint64(n))
}

// decodeBlock calls fn with each record of the block v at key k, its key
// and its seal's hash (which the next record's Prev is derived from), in
// key order.
func (c codecCtx) decodeBlock(k, v []byte, fn func(key []byte, d Disposal, hash string) error) error {
	camera, start, ok := keyStart(k)
	if !ok || len(v) == 0 || (v[0] != tagBlock && v[0] != tagBlockDiff) {
		return fmt.Errorf("decode disposal block %q: malformed", k)
	}
	diff := v[0] == tagBlockDiff
	r := decoder{b: v[1:]}
	count := r.uvarint()
	if r.err == nil && count > uint64(len(r.b)) {
		r.fail(errShort)
	}
	var (
		p     Disposal
		pHash string
		recs  []SealRecord // allocated a few hundred at a time: a check decodes millions
	)
	for i := uint64(0); i < count && r.err == nil; i++ {
		same := r.uvarint()
		if diff {
			var ok bool
			if same, ok = sameMask(same); !ok {
				r.fail(errors.New("compact value: bad block mask"))
			}
		}
		var dup, n uint64
		if same&sameName == 0 {
			dup, n = r.uvarint(), r.uvarint()
			if dup > 0xffff || n > maxNameTries {
				r.fail(errors.New("compact value: bad name counter"))
			}
		}
		prevEnd := p.End
		if i == 0 {
			prevEnd = start
		}
		st := prevEnd
		if same&sameStart == 0 {
			st = r.tdelta(prevEnd)
		}
		var ps Seal
		if i > 0 {
			ps = p.Seal.Seal
		}
		d := Disposal{Camera: camera, Start: st, File: segmentRel(camera, st, int(n)), Why: p.Why}
		sl := Seal{Box: c.box, Camera: camera, File: d.File, Start: st, Codec: ps.Codec, Version: ps.Version,
			Seq: ps.Seq + 1, TimeSource: ps.TimeSource, ClockOffsetMS: ps.ClockOffsetMS, CameraClock: ps.CameraClock,
			LostPackets: ps.LostPackets, DroppedFrames: ps.DroppedFrames, State: ps.State, Flags: ps.Flags, Prev: pHash}
		if same&sameWhy == 0 {
			d.Why = r.str()
		}
		if same&sameCodec == 0 {
			sl.Codec = r.str()
		}
		if same&sameVersion == 0 {
			sl.Version = int(r.uvarint())
		}
		if same&nextSeq == 0 {
			sl.Seq = r.uvarint()
		}
		if same&sameSource == 0 {
			sl.TimeSource = r.str()
		}
		if same&sameOffset == 0 {
			sl.ClockOffsetMS = r.varint()
		}
		if same&sameCamClock == 0 {
			sl.CameraClock = r.byte1() == 1
		}
		if same&sameLost == 0 {
			sl.LostPackets = r.varint()
		}
		if same&sameDropped == 0 {
			sl.DroppedFrames = r.varint()
		}
		if same&sameState == 0 {
			sl.State = r.str()
		}
		if same&sameFlags == 0 {
			sl.Flags = nil
			if nf := r.uvarint(); nf > 0 {
				if nf-1 > uint64(len(r.b)) {
					r.fail(errShort)
					break
				}
				sl.Flags = make([]string, nf-1)
				for j := range sl.Flags {
					sl.Flags[j] = r.str()
				}
			}
		}
		if same&chainedPrev == 0 {
			sl.Prev = ""
			if r.byte1() == 1 {
				sl.Prev = r.hash32()
			}
		}
		if len(recs) == 0 {
			recs = make([]SealRecord, min(count-i, 256))
		}
		rec := &recs[0]
		recs = recs[1:]
		if same&noSignature == 0 {
			rec.Signature = c.decodeSignature(&r)
		}
		whenBase := p.When
		if i == 0 {
			whenBase = st
		}
		d.When = r.tdelta(whenBase)
		d.End = r.tdelta(st)
		sl.End = d.End
		sl.Bytes = r.varint()
		sl.Frames = r.varint()
		sl.SHA256 = r.hash32()
		d.SHA256 = sl.SHA256
		sl.SealedAt = r.tdelta(sl.End)
		if r.err != nil {
			break
		}
		rec.Seal = sl
		d.Seal = rec
		key := segKey(camera, st, uint16(dup))
		if i == 0 && !bytes.Equal(key, k) {
			return fmt.Errorf("decode disposal block %q: its first record is not its key", k)
		}
		if i > 0 && !st.Before(start.Add(blockSpan)) {
			return fmt.Errorf("decode disposal block %q: a record starts outside the block's day", k)
		}
		p, pHash = d, sl.Hash()
		if err := fn(key, d, pHash); err != nil {
			return err
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(errors.New("compact value: trailing bytes"))
	}
	if r.err != nil {
		return fmt.Errorf("decode disposal block %q: %w", k, r.err)
	}
	return nil
}

// blockRecords returns the records of the block v at key k, with their keys.
func (c codecCtx) blockRecords(k, v []byte) ([][]byte, []Disposal, error) {
	var keys [][]byte
	var ds []Disposal
	err := c.decodeBlock(k, v, func(key []byte, d Disposal, _ string) error {
		keys = append(keys, slices.Clone(key))
		ds = append(ds, d)
		return nil
	})
	return keys, ds, err
}

// checkedBlock returns the block of the longest run of ds from its first
// record that fits in limit bytes (as encodeBlock) and how many records it
// holds, or false if decoding it does not give back each of those records
// and keys exactly (sameDisposal).
func (c codecCtx) checkedBlock(keys [][]byte, ds []Disposal, limit int) ([]byte, int, bool, error) {
	v, n, ok, err := c.encodeBlock(keys, ds, limit)
	if err != nil || !ok {
		return nil, 0, false, err
	}
	i := 0
	err = c.decodeBlock(keys[0], v, func(key []byte, d Disposal, _ string) error {
		if i >= n || !bytes.Equal(key, keys[i]) {
			return errBlockMismatch
		}
		if !sameDisposal(d, ds[i]) {
			return errBlockMismatch
		}
		i++
		return nil
	})
	if errors.Is(err, errBlockMismatch) || err == nil && i != n {
		return nil, 0, false, nil
	}
	return v, n, err == nil, err
}

var errBlockMismatch = errors.New("disposal block does not round-trip")

// blockWindow calls fn with every packed record of camera whose segment
// may overlap [from, to): those of blocks starting from from minus back
// and blockSpan, up to to.
func (c codecCtx) blockWindow(camera string, from, to time.Time, back time.Duration, fn func(key []byte, d Disposal) error) error {
	b := c.tx.Bucket(bktDisposalBlocks)
	if b == nil {
		return nil
	}
	return window(b, camera, from, to, back+blockSpan, func(k, v []byte) error {
		return c.decodeBlock(k, v, func(key []byte, d Disposal, _ string) error {
			if !d.Start.Before(to) {
				return nil
			}
			return fn(key, d)
		})
	})
}

// packedAt returns the keys of the packed records of camera that start at
// start (nil if none).
func (c codecCtx) packedAt(camera string, start time.Time) (map[string]bool, error) {
	var keys map[string]bool
	err := c.blockWindow(camera, start, start.Add(time.Nanosecond), 0, func(k []byte, d Disposal) error {
		if d.Start.Equal(start) {
			if keys == nil {
				keys = map[string]bool{}
			}
			keys[string(k)] = true
		}
		return nil
	})
	return keys, err
}

// packDisposals packs the disposal records of cams into blocks, in
// one transaction, camera after camera while the records read stay within
// max (0: no limit; a first camera with more is read to max+1 and left in
// rest, to go on): for each camera, every run of records of one UTC day of
// start that is complete (a later record of the camera starts in a later
// day) and was deleted at or before cutoff. A run that the block form
// cannot hold exactly stays as it is. Cameras go together because records
// keyed start first (singles.go) mix all cameras' records of a minute in
// one page: packing them camera by camera would rewrite a day's pages once
// per camera. It returns how many records it packed and the cameras it did
// not finish.
func (s *Store) packDisposals(cams []string, cutoff time.Time, max int) (packed int, rest []string, err error) {
	if writesBelow(3) || len(cams) == 0 {
		return 0, nil, nil
	}
	err = s.update("pack disposal records", func(tx *bolt.Tx) error {
		packed, rest = 0, nil
		db := singlesOf(tx)
		bb, err := tx.CreateBucketIfNotExists(bktDisposalBlocks)
		if err != nil {
			return err
		}
		bb.FillPercent = packedFill
		cdc := newCodec(tx)
		recs := db.ofCameras(cams) // copies: the buckets change
		read := 0
		for i, cam := range cams {
			kvs := recs[cam]
			if max > 0 && read+len(kvs) > max {
				if read > 0 {
					rest = cams[i:]
					break
				}
				kvs, rest = kvs[:max+1], cams[i:] // the first camera alone: max+1 records, the rest later
			}
			read += len(kvs)
			n, err := packCamera(cdc, db, bb, kvs, cutoff)
			packed += n
			if err != nil {
				return err
			}
			if rest != nil {
				break
			}
		}
		return nil
	})
	return packed, rest, err
}

// packCamera packs, in the transaction of db and bb, one camera's records
// kvs (in key order) as packDisposals says, and returns how many it packed.
func packCamera(cdc codecCtx, db singles, bb *bolt.Bucket, kvs []keyedValue, cutoff time.Time) (int, error) {
	packed := 0
	var (
		keys [][]byte
		ds   []Disposal
		day  time.Time
	)
	flush := func() error {
		defer func() { keys, ds = keys[:0], ds[:0] }()
		if len(ds) == 0 {
			return nil
		}
		for lo := 0; lo < len(ds); {
			v, n, ok, err := cdc.checkedBlock(keys[lo:], ds[lo:], blockLimit(bb, keys[lo]))
			if err != nil || !ok {
				return err // what is left of the run stays as it is
			}
			if err := bb.Put(keys[lo], v); err != nil {
				return err
			}
			for _, k := range keys[lo : lo+n] {
				if err := db.delete(k); err != nil {
					return err
				}
			}
			packed += n
			lo += n
		}
		return nil
	}
	for _, kv := range kvs {
		d, err := cdc.decodeDisposal(kv.k, kv.v)
		if err != nil {
			return packed, err
		}
		dd := d.Start.UTC().Truncate(blockSpan)
		if len(ds) > 0 && !dd.Equal(day) {
			if err := flush(); err != nil { // the next record starts a later day: day is complete
				return packed, err
			}
		}
		if d.When.After(cutoff) {
			return packed, nil // not yet: nor anything after it
		}
		if !packable(d) {
			continue // stays a record of its own; the run goes on around it
		}
		day = dd
		keys = append(keys, kv.k)
		ds = append(ds, d)
	}
	// The last run may still grow: it is packed on a later call.
	return packed, nil
}

// blockLimit is the most bytes a block keyed k in bb takes so that two
// fit in a leaf page. bbolt puts at least two values in a leaf page
// (whatever the bucket's fill percent), and writes a node that does not
// fit in one page as a run of contiguous pages of its own. A day of one camera in one value (about
// 70 KB) made each leaf of the bucket a node of two to four such values,
// rewritten whole as a day was packed beside them or folded from them: a
// run of 36 to 70 pages, which the free pages that segment entries leave
// scattered could not hold, so the file grew by such runs while its free
// pages piled up (BenchmarkIndexYears). With blocks of half a page, a leaf
// is one page, or two where bbolt leaves the last three or four values
// of a split node together.
func blockLimit(bb *bolt.Bucket, k []byte) int {
	const pageHeader, leafElement = 16, 16 // bbolt's page and leaf element headers
	return (bb.Tx().DB().Info().PageSize-pageHeader)/2 - leafElement - len(k)
}

// packDue returns the cameras whose single disposal records start in more
// than one UTC day (so that at least one day of them is complete), in the
// order of cams. Most hours find only the day still being deleted: that
// costs a read transaction, no write and no decoding.
func (s *Store) packDue(cams []string) ([]string, error) {
	var due []string
	err := s.view("pack disposal records", func(tx *bolt.Tx) error {
		spans := singlesOf(tx).startSpans(cams)
		for _, cam := range cams {
			if sp, ok := spans[cam]; ok && !sp[0].Truncate(blockSpan).Equal(sp[1].Truncate(blockSpan)) {
				due = append(due, cam)
			}
		}
		return nil
	})
	return due, err
}
