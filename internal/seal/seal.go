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
func (s Seal) Canonical() ([]byte, error) {
	s.Start, s.End, s.SealedAt = s.Start.UTC(), s.End.UTC(), s.SealedAt.UTC()
	return json.Marshal(s)
}

// Hash is the hex SHA-256 of the canonical JSON: what the next seal's Prev holds.
func (s Seal) Hash() string {
	b, err := s.Canonical()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
