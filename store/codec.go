package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The compact value encoding (schema 2) of segment entries and disposal
// records.
//
// A value is either JSON (schema 1's encoding, first byte '{') or compact
// (first byte tagCompact). Readers accept both, so an index is readable at
// every point of the migration, and a value the compact form cannot
// reproduce exactly is still written as JSON. Every compact value is
// decoded again and compared with what was meant (as JSON) before it is
// written, so the seal's canonical JSON (what was signed and chained) is
// reconstructed byte for byte, or the JSON form is kept (the comparison is
// field by field: samejson.go).
//
// What the compact form leaves out, it takes from its context: the camera,
// the start and the duplicate counter from the key; the box from meta "box";
// the file name from the layout (segmentRel with the "_n" counter stored);
// the seal's camera, file, start and codec from the entry. Strings that
// recur (codecs, time sources, states, flags, reasons) are one byte from
// a frozen table. Hashes are 32 raw bytes. An armored signature is a
// 4-byte template id and its last 64 raw bytes (the Ed25519 signature): the
// template (armor lines, line width, and the fixed bytes before the
// signature: SSHSIG magic, public key, namespace, hash algorithm) is stored
// once in bucket "dict" under the first 4 bytes of its SHA-256.
//
// Sealed entry (values little more than 160 bytes, see doc.go):
//
//	tag 0x02 | state byte | name counter uvarint | codec str | created tdelta(start)
//	| disposing byte [why str | at tdelta(start)] | record byte [seal]
//
// or, with the segment's activity (schema 4), tag 0x04 and the same fields
// with "activity length uvarint | activity" after the disposing part
// (before the seal, so Activity reads it without decoding the seal).
//
// seal: version uvarint | seq uvarint | end tdelta(start) | bytes varint |
// frames varint | sha256 [32] | time source str | clock offset ms varint |
// camera clock byte | lost varint | dropped varint | state str | nflags
// uvarint, flags str… | prev byte [32] | sealed at tdelta(end) | signature.
//
// Disposal: tag 0x02 | name counter uvarint | when tdelta(start) | why str |
// end tdelta(start) | sha256 byte [32] (byte 2: the seal's) | seal byte
// [codec str | seal]. A disposed seal's signature is usually empty (see
// vouchedBySuccessor in dispose.go).
//
// str is uvarint i+1 for entry i of codecStrings, or 0, uvarint length,
// bytes. tdelta(base) is a zigzag varint of the nanoseconds since base,
// times 2, or of the whole milliseconds, times 2, plus 1.
const tagCompact = 0x02

// tagCompactActivity is tagCompact's entry with its activity.
const tagCompactActivity = 0x04

// codecStrings is frozen: entries are only ever appended.
var codecStrings = []string{
	"", "h264", "h265", "rtcp", "arrival", "pts", "filename",
	SealSealed, SealRecovered, SealAdopted,
	"clock-jump", "time-untrusted", "crash", "truncated", "no-pts",
	WhyRetention, WhyDiskPressure, WhyFileMissing,
	"salvaged:ENOSPC", "salvaged:EIO", "salvaged:EROFS",
}

var codecStringIndex = func() map[string]int {
	m := map[string]int{}
	for i, s := range codecStrings {
		m[s] = i
	}
	return m
}()

var bktDict = []byte("dict") // "sig" id(4) → signature template

type encoder struct{ b []byte }

func (w *encoder) byte1(c byte)     { w.b = append(w.b, c) }
func (w *encoder) uvarint(x uint64) { w.b = binary.AppendUvarint(w.b, x) }
func (w *encoder) varint(x int64)   { w.b = binary.AppendVarint(w.b, x) }
func (w *encoder) raw(p []byte)     { w.b = append(w.b, p...) }
func (w *encoder) bool1(v bool) {
	if v {
		w.byte1(1)
	} else {
		w.byte1(0)
	}
}

func (w *encoder) str(s string) {
	if i, ok := codecStringIndex[s]; ok {
		w.uvarint(uint64(i) + 1)
		return
	}
	w.uvarint(0)
	w.uvarint(uint64(len(s)))
	w.raw([]byte(s))
}

func (w *encoder) tdelta(t, base time.Time) {
	d := t.Sub(base) // saturates; the round trip catches it
	if d%time.Millisecond == 0 {
		w.varint(int64(d/time.Millisecond)*2 + 1)
		return
	}
	w.varint(int64(d) * 2)
}

type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("compact value: truncated")

func (r *decoder) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *decoder) byte1() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *decoder) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *decoder) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *decoder) raw(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.fail(errShort)
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *decoder) str() string {
	i := r.uvarint()
	if i > 0 {
		if i > uint64(len(codecStrings)) {
			r.fail(fmt.Errorf("compact value: string %d unknown", i))
			return ""
		}
		return codecStrings[i-1]
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errShort)
		return ""
	}
	return string(r.raw(int(n)))
}

func (r *decoder) tdelta(base time.Time) time.Time {
	v := r.varint()
	if v&1 != 0 {
		return base.Add(time.Duration((v-1)/2) * time.Millisecond).UTC()
	}
	return base.Add(time.Duration(v / 2)).UTC()
}

func (r *decoder) hash32() string {
	p := r.raw(32)
	if p == nil {
		return ""
	}
	var out [64]byte
	hex.Encode(out[:], p)
	return string(out[:])
}

// rawHash returns the 32 bytes of a lowercase hex SHA-256.
func rawHash(s string) ([]byte, bool) {
	if len(s) != 64 {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	if err != nil || hex.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// keyStart returns the camera and start a segment key encodes.
func keyStart(k []byte) (string, time.Time, bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) != i+1+8+2 {
		return "", time.Time{}, false
	}
	return string(k[:i]), keyTime(k[i+1:]), true
}

// nameCounter returns n such that rel == segmentRel(camera, start, n).
func nameCounter(camera string, start time.Time, rel string) (int, bool) {
	base := segmentRel(camera, start, 0)
	if rel == base {
		return 0, true
	}
	stem := strings.TrimSuffix(base, ".ts") + "_"
	rest, ok := strings.CutPrefix(rel, stem)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".ts")
	n, err := strconv.Atoi(rest)
	if !ok || err != nil || n <= 0 || segmentRel(camera, start, n) != rel {
		return 0, false
	}
	return n, true
}

// sigTemplate is everything of an armored signature but its last 64 raw
// bytes.
type sigTemplate struct {
	begin, end string // armor lines before and after the body, with their newlines
	width      int    // body line length (0: one line)
	prefix     []byte // raw bytes before the signature
}

func (t sigTemplate) marshal() []byte {
	var w encoder
	w.uvarint(uint64(len(t.begin)))
	w.raw([]byte(t.begin))
	w.uvarint(uint64(len(t.end)))
	w.raw([]byte(t.end))
	w.uvarint(uint64(t.width))
	w.raw(t.prefix)
	return w.b
}

func parseTemplate(b []byte) (sigTemplate, error) {
	r := decoder{b: b}
	var t sigTemplate
	t.begin = string(r.raw(int(r.uvarint())))
	t.end = string(r.raw(int(r.uvarint())))
	t.width = int(r.uvarint())
	t.prefix = append([]byte(nil), r.b...)
	return t, r.err
}

func (t sigTemplate) id() []byte {
	sum := sha256.Sum256(t.marshal())
	return sum[:4]
}

func (t sigTemplate) armor(sig []byte) string {
	var rawBuf, bodyBuf [1024]byte
	raw := append(append(rawBuf[:0], t.prefix...), sig...)
	n := base64.StdEncoding.EncodedLen(len(raw))
	var body []byte
	if n <= len(bodyBuf) {
		body = bodyBuf[:n]
	} else {
		body = make([]byte, n)
	}
	base64.StdEncoding.Encode(body, raw)
	size := len(t.begin) + n + len(t.end)
	if t.width > 0 {
		size += (n - 1) / t.width
	}
	var sb strings.Builder
	sb.Grow(size)
	sb.WriteString(t.begin)
	for t.width > 0 && len(body) > t.width {
		sb.Write(body[:t.width])
		sb.WriteByte('\n')
		body = body[t.width:]
	}
	sb.Write(body)
	sb.WriteString(t.end)
	return sb.String()
}

// splitArmor returns the template and the last 64 raw bytes of an armored
// signature, if armoring them again gives sig exactly.
func splitArmor(sig string) (sigTemplate, []byte, bool) {
	i := strings.IndexByte(sig, '\n')
	j := strings.LastIndex(sig, "\n-----END ")
	if i < 0 || j < i || !strings.HasPrefix(sig, "-----BEGIN ") {
		return sigTemplate{}, nil, false
	}
	t := sigTemplate{begin: sig[:i+1], end: sig[j:]}
	body := sig[i+1 : j]
	if k := strings.IndexByte(body, '\n'); k >= 0 {
		t.width = k
	}
	raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body, "\n", ""))
	if err != nil || len(raw) < 64 {
		return sigTemplate{}, nil, false
	}
	t.prefix = raw[:len(raw)-64]
	s := raw[len(raw)-64:]
	if t.armor(s) != sig {
		return sigTemplate{}, nil, false
	}
	return t, s, true
}

// codecCtx is what compact values leave out, read once per transaction use.
type codecCtx struct {
	tx  *bolt.Tx
	box string
}

func newCodec(tx *bolt.Tx) codecCtx {
	c := codecCtx{tx: tx}
	db := tx.DB()
	if box, ok := boxes.Load(db); ok {
		c.box = box.(string)
		return c
	}
	if m := tx.Bucket(bktMeta); m != nil {
		c.box = string(m.Get(keyBox))
	}
	if c.box != "" {
		boxes.Store(db, c.box)
	}
	return c
}

// boxes caches each open index's box id (meta "box", written once by
// Init and never changed): a codec is made for nearly every value read,
// and looking the box up costs two seeks.
var boxes sync.Map // *bolt.DB → string

// templateKey names a signature template of one index.
type templateKey struct {
	db *bolt.DB
	id [4]byte
}

// templates caches parsed signature templates: a template never changes
// once stored (its id is its hash, and putTemplate refuses another under
// it), and every sealed entry names one.
var templates sync.Map // templateKey → sigTemplate

// forgetTemplates drops the cached templates and box of db (Close), so a
// closed index is not kept reachable by the caches.
func forgetTemplates(db *bolt.DB) {
	boxes.Delete(db)
	templates.Range(func(k, _ any) bool {
		if k.(templateKey).db == db {
			templates.Delete(k)
		}
		return true
	})
}

func (c codecCtx) template(id []byte) (sigTemplate, error) {
	key := templateKey{db: c.tx.DB()}
	copy(key.id[:], id)
	if t, ok := templates.Load(key); ok {
		return t.(sigTemplate), nil
	}
	b := c.tx.Bucket(bktDict)
	if b == nil {
		return sigTemplate{}, errors.New("compact value: no dict bucket")
	}
	v := b.Get(append([]byte("sig"), id...))
	if v == nil {
		return sigTemplate{}, fmt.Errorf("compact value: signature template %x missing", id)
	}
	t, err := parseTemplate(v)
	if err == nil && len(id) == len(key.id) {
		templates.Store(key, t)
	}
	return t, err
}

// putTemplate stores t (write transactions); false if its id is taken by
// another template.
func (c codecCtx) putTemplate(t sigTemplate) (bool, error) {
	b := c.tx.Bucket(bktDict)
	if b == nil || !c.tx.Writable() {
		return false, nil
	}
	k := append([]byte("sig"), t.id()...)
	v := t.marshal()
	if old := b.Get(k); old != nil {
		return bytes.Equal(old, v), nil
	}
	return true, b.Put(k, v)
}

// encodeSeal appends rec, leaving out what ctx gives; false if it cannot.
func (c codecCtx) encodeSeal(w *encoder, rec *SealRecord, camera, file, codec string, start time.Time) (bool, error) {
	sl := rec.Seal
	if sl.Box != c.box || sl.Camera != camera || sl.File != file || sl.Codec != codec || !sl.Start.Equal(start) {
		return false, nil
	}
	sha, ok := rawHash(sl.SHA256)
	if !ok {
		return false, nil
	}
	w.uvarint(uint64(sl.Version))
	w.uvarint(sl.Seq)
	w.tdelta(sl.End, start)
	w.varint(sl.Bytes)
	w.varint(sl.Frames)
	w.raw(sha)
	w.str(sl.TimeSource)
	w.varint(sl.ClockOffsetMS)
	w.bool1(sl.CameraClock)
	w.varint(sl.LostPackets)
	w.varint(sl.DroppedFrames)
	w.str(sl.State)
	w.uvarint(uint64(len(sl.Flags)))
	for _, f := range sl.Flags {
		w.str(f)
	}
	if sl.Prev == "" {
		w.byte1(0)
	} else {
		prev, ok := rawHash(sl.Prev)
		if !ok {
			return false, nil
		}
		w.byte1(1)
		w.raw(prev)
	}
	w.tdelta(sl.SealedAt, sl.End)
	return c.encodeSignature(w, rec.Signature)
}

// encodeSignature appends an armored signature: byte 1, its template id
// and its last 64 raw bytes, or byte 0 and the armor as it is; false if
// the template's id is taken by another.
func (c codecCtx) encodeSignature(w *encoder, armored string) (bool, error) {
	if t, sig, ok := splitArmor(armored); ok {
		if ok, err := c.putTemplate(t); err != nil || !ok {
			return false, err
		}
		w.byte1(1)
		w.raw(t.id())
		w.raw(sig)
		return true, nil
	}
	w.byte1(0)
	w.uvarint(uint64(len(armored)))
	w.raw([]byte(armored))
	return true, nil
}

// decodeSignature reads what encodeSignature appended.
func (c codecCtx) decodeSignature(r *decoder) string {
	if r.byte1() != 1 {
		return string(r.raw(int(r.uvarint())))
	}
	id, sig := r.raw(4), r.raw(64)
	if r.err != nil {
		return ""
	}
	t, err := c.template(id)
	if err != nil {
		r.fail(err)
		return ""
	}
	return t.armor(sig)
}

func (c codecCtx) decodeSeal(r *decoder, camera, file, codec string, start time.Time) *SealRecord {
	sl := c.decodeSealFields(r, camera, file, codec, start)
	return &SealRecord{Seal: sl, Signature: c.decodeSignature(r)}
}

// decodeSealFields reads what encodeSeal appended before the signature.
func (c codecCtx) decodeSealFields(r *decoder, camera, file, codec string, start time.Time) Seal {
	var sl Seal
	sl.Version = int(r.uvarint())
	sl.Box, sl.Camera, sl.File, sl.Codec, sl.Start = c.box, camera, file, codec, start
	sl.Seq = r.uvarint()
	sl.End = r.tdelta(start)
	sl.Bytes = r.varint()
	sl.Frames = r.varint()
	sl.SHA256 = r.hash32()
	sl.TimeSource = r.str()
	sl.ClockOffsetMS = r.varint()
	sl.CameraClock = r.byte1() == 1
	sl.LostPackets = r.varint()
	sl.DroppedFrames = r.varint()
	sl.State = r.str()
	if n := r.uvarint(); n > 0 && n <= uint64(len(r.b)) {
		sl.Flags = make([]string, n)
		for i := range sl.Flags {
			sl.Flags[i] = r.str()
		}
	}
	if r.byte1() == 1 {
		sl.Prev = r.hash32()
	}
	sl.SealedAt = r.tdelta(sl.End)
	return sl
}

var entryStates = []string{stateOpen, stateSealed, stateDisposing}

// encodeEntry returns e's value at key k: compact if it reproduces e
// exactly, else JSON.
func (c codecCtx) encodeEntry(k []byte, e entry) ([]byte, error) {
	if !writesBelow(2) {
		v, ok, err := c.compactEntry(k, e)
		if err != nil {
			return nil, err
		}
		if ok {
			if back, err := c.decodeEntry(k, v); err == nil && sameEntry(back, e) {
				return v, nil
			}
		}
	}
	return json.Marshal(e)
}

func (c codecCtx) compactEntry(k []byte, e entry) ([]byte, bool, error) {
	camera, start, ok := keyStart(k)
	if !ok || camera != e.Camera || !start.Equal(e.Start) {
		return nil, false, nil
	}
	n, ok := nameCounter(camera, start, e.File)
	if !ok {
		return nil, false, nil
	}
	st := -1
	for i, s := range entryStates {
		if s == e.State {
			st = i
		}
	}
	if st < 0 {
		return nil, false, nil
	}
	w := encoder{b: make([]byte, 0, 192+len(e.Activity))}
	if e.Activity != nil {
		w.byte1(tagCompactActivity)
	} else {
		w.byte1(tagCompact)
	}
	w.entryHead(e, st, n, start)
	if e.Record == nil {
		w.byte1(0)
		return w.b, true, nil
	}
	w.byte1(1)
	ok, err := c.encodeSeal(&w, e.Record, camera, e.File, e.Codec, start)
	return w.b, ok, err
}

// entryHead appends what a compact entry holds before its record: state
// st, name counter n, codec, created, the disposal fields, and the
// activity if any (the tag says which).
func (w *encoder) entryHead(e entry, st, n int, start time.Time) {
	w.byte1(byte(st))
	w.uvarint(uint64(n))
	w.str(e.Codec)
	w.tdelta(e.Created, start)
	if e.DisposeWhy != "" || !e.DisposeAt.IsZero() {
		w.byte1(1)
		w.str(e.DisposeWhy)
		w.tdelta(e.DisposeAt, start)
	} else {
		w.byte1(0)
	}
	if e.Activity != nil {
		w.uvarint(uint64(len(e.Activity)))
		w.raw(e.Activity)
	}
}

// disposingValue returns the compact entry v at key k rewritten for e,
// which is v's entry with only its state and disposal fields changed
// (marked disposing): the part before the record is encoded again and the
// record's bytes (seal and signature) are kept as they are, so marking a
// segment does not encode and check its seal again. ok is false if v is
// not compact, e differs from it in more, or the new part does not decode
// to e's (then the caller encodes e whole).
func disposingValue(k, v []byte, e entry) ([]byte, bool) {
	if !compactEntryTag(v) {
		return nil, false
	}
	was, r, err := decodeEntryHead(k, v)
	if err != nil || was.Camera != e.Camera || !was.Start.Equal(e.Start) || was.File != e.File || was.Codec != e.Codec ||
		!sameJSONTime(was.Created, e.Created) || !bytes.Equal(was.Activity, e.Activity) || (v[0] == tagCompactActivity) != (e.Activity != nil) {
		return nil, false
	}
	n, ok := nameCounter(e.Camera, e.Start, e.File)
	st := slices.Index(entryStates, e.State)
	if !ok || st < 0 {
		return nil, false
	}
	w := encoder{b: make([]byte, 0, len(v)+16)}
	w.byte1(v[0])
	w.entryHead(e, st, n, e.Start)
	w.raw(r.b) // the record byte, the seal and its signature
	back, br, err := decodeEntryHead(k, w.b)
	if err != nil || !bytes.Equal(br.b, r.b) || back.State != e.State || back.DisposeWhy != e.DisposeWhy ||
		!(back.DisposeAt.IsZero() && e.DisposeAt.IsZero() || sameJSONTime(back.DisposeAt, e.DisposeAt)) {
		return nil, false
	}
	return w.b, true
}

// entryState returns the state of the entry v without decoding it, for a
// compact value; ok is false for JSON (decode it).
func entryState(v []byte) (string, bool) {
	if !compactEntryTag(v) || len(v) < 2 || int(v[1]) >= len(entryStates) {
		return "", false
	}
	return entryStates[v[1]], true
}

// sealLink returns the sequence number and the Prev of the seal in the
// entry v at key k, without armoring its signature (what a whole decode
// spends most on); ok is false if the entry has no seal.
func (c codecCtx) sealLink(k, v []byte) (seq uint64, prev string, ok bool, err error) {
	if !compactEntryTag(v) {
		e, err := c.decodeEntry(k, v)
		if err != nil || e.Record == nil {
			return 0, "", false, err
		}
		return e.Record.Seal.Seq, e.Record.Seal.Prev, true, nil
	}
	e, r, err := decodeEntryHead(k, v)
	if err != nil {
		return 0, "", false, err
	}
	if r.byte1() != 1 {
		return 0, "", false, r.err
	}
	sl := c.decodeSealFields(&r, e.Camera, e.File, e.Codec, e.Start)
	if r.err != nil {
		return 0, "", false, fmt.Errorf("decode %q: %w", k, r.err)
	}
	return sl.Seq, sl.Prev, true, nil
}

// decodeEntry decodes the value v at key k, JSON or compact.
func (c codecCtx) decodeEntry(k, v []byte) (entry, error) {
	if !compactEntryTag(v) {
		var e entry
		if err := json.Unmarshal(v, &e); err != nil {
			return e, fmt.Errorf("decode %q: %w", k, err)
		}
		return e, nil
	}
	e, r, err := decodeEntryHead(k, v)
	if err != nil {
		return entry{}, err
	}
	if r.byte1() == 1 {
		e.Record = c.decodeSeal(&r, e.Camera, e.File, e.Codec, e.Start)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(errors.New("compact value: trailing bytes"))
	}
	if r.err != nil {
		return entry{}, fmt.Errorf("decode %q: %w", k, r.err)
	}
	return e, nil
}

// decodeEntryHead decodes the compact entry v at key k up to its seal: it
// returns the entry without its record and the decoder at the record byte.
func decodeEntryHead(k, v []byte) (entry, decoder, error) {
	var e entry
	camera, start, ok := keyStart(k)
	if !ok {
		return e, decoder{}, fmt.Errorf("decode %q: compact value under a malformed key", k)
	}
	r := decoder{b: v[1:]}
	st := int(r.byte1())
	if st >= len(entryStates) {
		return e, r, fmt.Errorf("decode %q: entry state %d unknown", k, st)
	}
	e.State, e.Camera, e.Start = entryStates[st], camera, start
	e.File = segmentRel(camera, start, int(r.uvarint()))
	e.Codec = r.str()
	e.Created = r.tdelta(start)
	if r.byte1() == 1 {
		e.DisposeWhy = r.str()
		e.DisposeAt = r.tdelta(start)
	}
	if v[0] == tagCompactActivity {
		e.Activity = bytes.Clone(r.raw(int(r.uvarint())))
	}
	if r.err != nil {
		return entry{}, r, fmt.Errorf("decode %q: %w", k, r.err)
	}
	return e, r, nil
}

// compactEntryTag reports whether v is an entry in a compact form.
func compactEntryTag(v []byte) bool {
	return len(v) > 0 && (v[0] == tagCompact || v[0] == tagCompactActivity)
}

// entryActivity returns the activity kept in the entry v at key k (nil if
// none), reading a compact value only up to it.
func (c codecCtx) entryActivity(k, v []byte) ([]byte, error) {
	switch {
	case len(v) > 0 && v[0] == tagCompact:
		return nil, nil
	case !compactEntryTag(v):
		e, err := c.decodeEntry(k, v)
		return e.Activity, err
	}
	e, _, err := decodeEntryHead(k, v)
	return e.Activity, err
}

// encodeDisposal returns d's value at key k: compact if it reproduces d
// exactly, else JSON.
func (c codecCtx) encodeDisposal(k []byte, d Disposal) ([]byte, error) {
	if !writesBelow(2) {
		v, ok, err := c.compactDisposal(k, d)
		if err != nil {
			return nil, err
		}
		if ok {
			if back, err := c.decodeDisposal(k, v); err == nil && sameDisposal(back, d) {
				return v, nil
			}
		}
	}
	return json.Marshal(d)
}

func (c codecCtx) compactDisposal(k []byte, d Disposal) ([]byte, bool, error) {
	camera, start, ok := keyStart(k)
	if !ok || camera != d.Camera || !start.Equal(d.Start) || d.Folded != nil {
		return nil, false, nil
	}
	n, ok := nameCounter(camera, start, d.File)
	if !ok {
		return nil, false, nil
	}
	w := encoder{b: make([]byte, 0, 192)}
	w.byte1(tagCompact)
	w.uvarint(uint64(n))
	w.tdelta(d.When, start)
	w.str(d.Why)
	w.tdelta(d.End, start)
	if d.Seal != nil && d.SHA256 == d.Seal.Seal.SHA256 {
		w.byte1(2) // the seal's, which follows
	} else if sha, ok := rawHash(d.SHA256); ok {
		w.byte1(1)
		w.raw(sha)
	} else {
		w.byte1(0)
		w.uvarint(uint64(len(d.SHA256)))
		w.raw([]byte(d.SHA256))
	}
	if d.Seal == nil {
		w.byte1(0)
		return w.b, true, nil
	}
	w.byte1(1)
	w.str(d.Seal.Seal.Codec)
	ok, err := c.encodeSeal(&w, d.Seal, camera, d.File, d.Seal.Seal.Codec, start)
	return w.b, ok, err
}

// decodeDisposal decodes the value v at key k, JSON or compact.
func (c codecCtx) decodeDisposal(k, v []byte) (Disposal, error) {
	var d Disposal
	if len(v) == 0 || v[0] != tagCompact {
		if err := json.Unmarshal(v, &d); err != nil {
			return d, fmt.Errorf("decode disposal %q: %w", k, err)
		}
		return d, nil
	}
	camera, start, ok := keyStart(k)
	if !ok {
		return d, fmt.Errorf("decode disposal %q: compact value under a malformed key", k)
	}
	r := decoder{b: v[1:]}
	d.Camera, d.Start = camera, start
	d.File = segmentRel(camera, start, int(r.uvarint()))
	d.When = r.tdelta(start)
	d.Why = r.str()
	d.End = r.tdelta(start)
	shaOfSeal := false
	switch r.byte1() {
	case 1:
		d.SHA256 = r.hash32()
	case 2:
		shaOfSeal = true
	default:
		d.SHA256 = string(r.raw(int(r.uvarint())))
	}
	if r.byte1() == 1 {
		codec := r.str()
		d.Seal = c.decodeSeal(&r, camera, d.File, codec, start)
		if shaOfSeal {
			d.SHA256 = d.Seal.Seal.SHA256
		}
	} else if shaOfSeal {
		r.fail(errors.New("compact value: disposal names its seal's hash but has no seal"))
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(errors.New("compact value: trailing bytes"))
	}
	if r.err != nil {
		return Disposal{}, fmt.Errorf("decode disposal %q: %w", k, r.err)
	}
	return d, nil
}

// getEntry reads the entry at segment key k.
func getEntry(tx *bolt.Tx, k []byte) (entry, bool, error) {
	v := segTableOf(tx).get(k)
	if v == nil {
		return entry{}, false, nil
	}
	e, err := newCodec(tx).decodeEntry(k, v)
	return e, true, err
}

// putEntry writes e at segment key k.
func putEntry(tx *bolt.Tx, k []byte, e entry) error {
	v, err := newCodec(tx).encodeEntry(k, e)
	if err != nil {
		return err
	}
	return segTableOf(tx).put(k, v)
}

// putDisposal writes d as the single disposal record of segment key k
// (singles.go).
func putDisposal(tx *bolt.Tx, k []byte, d Disposal) error {
	v, err := newCodec(tx).encodeDisposal(k, d)
	if err != nil {
		return err
	}
	return singlesOf(tx).put(k, v)
}
