package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// The compact encoding of a disposal summary (bucket "disposal_days"):
// what the key and meta give (camera, day, box) is left out, hashes are raw,
// times are deltas, files are their start and name counter, and the
// signature is a template id and its raw bytes (codec.go). A summary is
// signed over its JSON, so, as for entries, a value is written compact only
// if decoding it gives back the record's JSON exactly; else it is JSON.
// About 200 bytes (32 more naming the previous summary), against 1.1 KB as
// JSON.
//
//	tag 0x02 | version uvarint | count uvarint | from tdelta(day) | to tdelta(from)
//	| first file: start tdelta(day), counter uvarint | last file: the same
//	| bytes varint | seq first uvarint | seq last uvarint
//	| hashes byte (bit 0: last seal hash, bit 1: previous summary, since schema 8)
//	| last seal hash [32] if bit 0 | previous summary [32] if bit 1
//	| nwhy uvarint, (why str, count uvarint)… sorted | first deleted tdelta(day)
//	| last deleted tdelta(first deleted) | records sha256 [32]
//	| folded at tdelta(last deleted) | signature (encodeSignature)

// summaryKey returns the camera and day of a disposal_days key.
func summaryKey(k []byte) (string, time.Time, bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) != i+1+8+8 {
		return "", time.Time{}, false
	}
	return string(k[:i]), keyTime(k[i+1:]), true
}

// fileAt returns the start and name counter of file, a segment of camera.
func fileAt(camera, file string) (time.Time, int, bool) {
	name, ok := strings.CutPrefix(path.Base(file), camera+"_")
	if !ok || len(name) < len(nameTime)+1 {
		return time.Time{}, 0, false
	}
	start, err := time.Parse(nameTime+"Z", name[:len(nameTime)+1])
	if err != nil {
		return time.Time{}, 0, false
	}
	n, ok := nameCounter(camera, start, file)
	return start, n, ok
}

// encodeSummary returns r's value at key k: compact if it gives r back
// exactly, else JSON.
func (c codecCtx) encodeSummary(k []byte, r SummaryRecord) ([]byte, error) {
	js, err := json.Marshal(r)
	if err != nil || writesBelow(3) {
		return js, err
	}
	v, ok, err := c.compactSummary(k, r)
	if err != nil || !ok {
		return js, err
	}
	back, err := c.decodeSummary(k, v)
	if err != nil {
		return js, nil
	}
	if bj, err := json.Marshal(back); err != nil || !bytes.Equal(bj, js) {
		return js, nil
	}
	return v, nil
}

func (c codecCtx) compactSummary(k []byte, r SummaryRecord) ([]byte, bool, error) {
	camera, day, ok := summaryKey(k)
	sm := r.Summary
	if !ok || sm.Camera != camera || sm.Box != c.box || sm.Day != day.Format(time.DateOnly) {
		return nil, false, nil
	}
	firstAt, firstN, ok1 := fileAt(camera, sm.FirstFile)
	lastAt, lastN, ok2 := fileAt(camera, sm.LastFile)
	records, ok3 := rawHash(sm.RecordsSHA256)
	if !ok1 || !ok2 || !ok3 || sm.Version < 0 || sm.Count < 0 {
		return nil, false, nil
	}
	w := encoder{b: make([]byte, 0, 256)}
	w.byte1(tagCompact)
	w.uvarint(uint64(sm.Version))
	w.uvarint(uint64(sm.Count))
	w.tdelta(sm.From, day)
	w.tdelta(sm.To, sm.From)
	w.tdelta(firstAt, day)
	w.uvarint(uint64(firstN))
	w.tdelta(lastAt, day)
	w.uvarint(uint64(lastN))
	w.varint(sm.Bytes)
	w.uvarint(sm.SeqFirst)
	w.uvarint(sm.SeqLast)
	var hashes byte
	var raw [][]byte
	for i, h := range []string{sm.LastSealHash, sm.PrevSummary} {
		if h == "" {
			continue
		}
		b, ok := rawHash(h)
		if !ok {
			return nil, false, nil
		}
		hashes |= 1 << i
		raw = append(raw, b)
	}
	w.byte1(hashes)
	for _, b := range raw {
		w.raw(b)
	}
	if sm.Why == nil {
		w.uvarint(0)
	} else {
		w.uvarint(uint64(len(sm.Why)) + 1)
		for _, why := range slices.Sorted(maps.Keys(sm.Why)) {
			if sm.Why[why] < 0 {
				return nil, false, nil
			}
			w.str(why)
			w.uvarint(uint64(sm.Why[why]))
		}
	}
	w.tdelta(sm.FirstDeleted, day)
	w.tdelta(sm.LastDeleted, sm.FirstDeleted)
	w.raw(records)
	w.tdelta(sm.FoldedAt, sm.LastDeleted)
	ok, err := c.encodeSignature(&w, r.Signature)
	return w.b, ok, err
}

// decodeSummary decodes the value v at key k, JSON or compact.
func (c codecCtx) decodeSummary(k, v []byte) (SummaryRecord, error) {
	var r SummaryRecord
	if len(v) == 0 || v[0] != tagCompact {
		if err := json.Unmarshal(v, &r); err != nil {
			return r, fmt.Errorf("decode summary %q: %w", k, err)
		}
		return r, nil
	}
	camera, day, ok := summaryKey(k)
	if !ok {
		return r, fmt.Errorf("decode summary %q: compact value under a malformed key", k)
	}
	d := decoder{b: v[1:]}
	sm := &r.Summary
	sm.Box, sm.Camera, sm.Day = c.box, camera, day.Format(time.DateOnly)
	sm.Version = int(d.uvarint())
	sm.Count = int(d.uvarint())
	sm.From = d.tdelta(day)
	sm.To = d.tdelta(sm.From)
	firstAt := d.tdelta(day)
	sm.FirstFile = segmentRel(camera, firstAt, int(min(d.uvarint(), maxNameTries)))
	lastAt := d.tdelta(day)
	sm.LastFile = segmentRel(camera, lastAt, int(min(d.uvarint(), maxNameTries)))
	sm.Bytes = d.varint()
	sm.SeqFirst = d.uvarint()
	sm.SeqLast = d.uvarint()
	hashes := d.byte1()
	if hashes&^3 != 0 {
		d.fail(errors.New("compact value: bad summary hashes"))
	}
	if hashes&1 != 0 {
		sm.LastSealHash = d.hash32()
	}
	if hashes&2 != 0 {
		sm.PrevSummary = d.hash32()
	}
	if n := d.uvarint(); n > 0 {
		if n-1 > uint64(len(d.b)) {
			d.fail(errShort)
		} else {
			sm.Why = make(map[string]int, n-1)
			for range n - 1 {
				why := d.str()
				sm.Why[why] = int(min(d.uvarint(), 1<<62))
			}
		}
	}
	sm.FirstDeleted = d.tdelta(day)
	sm.LastDeleted = d.tdelta(sm.FirstDeleted)
	sm.RecordsSHA256 = d.hash32()
	sm.FoldedAt = d.tdelta(sm.LastDeleted)
	r.Signature = c.decodeSignature(&d)
	if d.err == nil && len(d.b) != 0 {
		d.fail(errors.New("compact value: trailing bytes"))
	}
	if d.err != nil {
		return SummaryRecord{}, fmt.Errorf("decode summary %q: %w", k, d.err)
	}
	return r, nil
}
