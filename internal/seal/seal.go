// Package seal defines the seal: the signed statement a recorder makes
// about one segment file the moment it closes it. It is the one definition
// shared by the store, which makes and keeps seals, and by the verifier of
// evidence packages, which checks them on a machine without our recorder;
// both must produce byte-identical canonical forms, or signatures and the
// seal chain would not verify. Fields are only ever added, with omitempty,
// so seals made before re-encode to the same bytes.
package seal

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Seal is the signed statement about one segment file. The signed message is
// its canonical JSON (Canonical): encoding/json of this struct, fields in this
// order, times in UTC.
type Seal struct {
	Version       int       `json:"version"` // 1
	Box           string    `json:"box"`
	Camera        string    `json:"camera"`
	Seq           uint64    `json:"seq"`  // per camera, from 1, consecutive
	File          string    `json:"file"` // relative to data_dir, slash-separated
	Codec         string    `json:"codec"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Bytes         int64     `json:"bytes"`
	Frames        int64     `json:"frames"`
	SHA256        string    `json:"sha256"`      // hex
	TimeSource    string    `json:"time_source"` // "rtcp", "arrival", "pts" (recovered), "filename" (adopted)
	ClockOffsetMS int64     `json:"clock_offset_ms"`
	// CameraClock says ClockOffsetMS was measured: the camera's clock (from
	// its RTCP sender reports) minus the time the segment is filed under.
	CameraClock bool `json:"camera_clock,omitempty"`
	// LostPackets counts RTP packets the camera sent that never arrived, and
	// DroppedFrames the access units left out of the file because of them
	// (damaged, or depending on a damaged one until the next keyframe) or
	// because they could not be muxed.
	LostPackets   int64 `json:"lost_packets,omitempty"`
	DroppedFrames int64 `json:"dropped_frames,omitempty"`
	// LeadingFrames counts the frames, among Frames, that are shown before
	// the segment's first keyframe (the leading pictures of an open-GOP
	// H.265 CRA). They refer to the segment before and decode only after
	// it; on their own (a player opening this file) they are skipped.
	// Their time lies before Start, inside the previous segment's span.
	LeadingFrames int64     `json:"leading_frames,omitempty"`
	State         string    `json:"state"` // "sealed" | "recovered" | "adopted"
	Flags         []string  `json:"flags,omitempty"`
	Prev          string    `json:"prev"` // Hash of the previous seal of this camera; "" for Seq 1
	SealedAt      time.Time `json:"sealed_at"`
}

// Record is a seal with its armored SSHSIG signature: what the index keeps
// and what a package's seals/<camera>/<name>.json holds.
type Record struct {
	Seal      Seal   `json:"seal"`
	Signature string `json:"signature"`
}

// Canonical returns the bytes that are signed and hashed. Times are converted
// to UTC first, so a seal decoded from JSON re-encodes to the same bytes.
func (s Seal) Canonical() ([]byte, error) { return s.appendCanonical(nil) }

// Hash is the hex SHA-256 of the canonical JSON: what the next seal's Prev holds.
func (s Seal) Hash() string {
	var buf [640]byte
	b, err := s.appendCanonical(buf[:0])
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// appendCanonical appends the canonical JSON to dst: appendPlain's when it
// can, else encoding/json's (in a new slice).
func (s Seal) appendCanonical(dst []byte) ([]byte, error) {
	s.Start, s.End, s.SealedAt = s.Start.UTC(), s.End.UTC(), s.SealedAt.UTC()
	if b, ok := s.appendPlain(dst); ok {
		return b, nil
	}
	return marshal(s)
}

// marshal is encoding/json's canonical form, apart so that Hash's buffer
// stays on the stack.
//
//go:noinline
func marshal(s Seal) ([]byte, error) { return json.Marshal(s) }

// appendPlain appends what json.Marshal makes of s (times already in UTC),
// without reflection, when that is plain: every string printable ASCII that
// encoding/json copies as it is (no quote, backslash, <, > or &) and every
// time in years 0–9999. Otherwise it reports false and Canonical uses
// encoding/json itself. FuzzCanonical holds the two to the same bytes.
func (s Seal) appendPlain(b []byte) ([]byte, bool) {
	for _, t := range [...]time.Time{s.Start, s.End, s.SealedAt} {
		if y := t.Year(); y < 0 || y > 9999 {
			return nil, false
		}
	}
	if !plain(s.Box) || !plain(s.Camera) || !plain(s.File) || !plain(s.Codec) || !plain(s.SHA256) ||
		!plain(s.TimeSource) || !plain(s.State) || !plain(s.Prev) {
		return nil, false
	}
	for _, f := range s.Flags {
		if !plain(f) {
			return nil, false
		}
	}
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(s.Version), 10)
	b = appendField(b, "box", s.Box)
	b = appendField(b, "camera", s.Camera)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, s.Seq, 10)
	b = appendField(b, "file", s.File)
	b = appendField(b, "codec", s.Codec)
	b = appendTime(b, "start", s.Start)
	b = appendTime(b, "end", s.End)
	b = appendInt(b, "bytes", s.Bytes)
	b = appendInt(b, "frames", s.Frames)
	b = appendField(b, "sha256", s.SHA256)
	b = appendField(b, "time_source", s.TimeSource)
	b = appendInt(b, "clock_offset_ms", s.ClockOffsetMS)
	if s.CameraClock {
		b = append(b, `,"camera_clock":true`...)
	}
	if s.LostPackets != 0 {
		b = appendInt(b, "lost_packets", s.LostPackets)
	}
	if s.DroppedFrames != 0 {
		b = appendInt(b, "dropped_frames", s.DroppedFrames)
	}
	if s.LeadingFrames != 0 {
		b = appendInt(b, "leading_frames", s.LeadingFrames)
	}
	b = appendField(b, "state", s.State)
	if len(s.Flags) > 0 {
		b = append(b, `,"flags":[`...)
		for i, f := range s.Flags {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, f...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	b = appendField(b, "prev", s.Prev)
	b = appendTime(b, "sealed_at", s.SealedAt)
	return append(b, '}'), true
}

// plain reports whether encoding/json writes v between quotes unchanged.
func plain(v string) bool {
	for i := 0; i < len(v); i++ {
		if !plainByte[v[i]] {
			return false
		}
	}
	return true
}

// plainByte[c] says encoding/json copies byte c of a string as it is:
// printable ASCII but quote, backslash, <, > and &.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = !strings.ContainsRune(`"\<>&`, rune(c))
	}
	return t
}()

func appendField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '"')
	b = append(b, v...)
	return append(b, '"')
}

func appendInt(b []byte, name string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendTime(b []byte, name string, t time.Time) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '"')
	b = appendUTC(b, t)
	return append(b, '"')
}

// appendUTC appends t (in UTC, year 0–9999) as time.RFC3339Nano formats
// it: checking every seal of years of footage formats three times a seal,
// and AppendFormat's general layout walk was most of the cost.
func appendUTC(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append(b, byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T')
	b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':')
	b = append(b, byte('0'+s/10), byte('0'+s%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [9]byte
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(frac)
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}
