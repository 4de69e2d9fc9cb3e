package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
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
	LostPackets   int64     `json:"lost_packets,omitempty"`
	DroppedFrames int64     `json:"dropped_frames,omitempty"`
	State         string    `json:"state"` // "sealed" | "recovered" | "adopted"
	Flags         []string  `json:"flags,omitempty"`
	Prev          string    `json:"prev"` // Hash of the previous seal of this camera; "" for Seq 1
	SealedAt      time.Time `json:"sealed_at"`
}

// Seal states.
const (
	SealSealed    = "sealed"
	SealRecovered = "recovered"
	SealAdopted   = "adopted"
)

// SealRecord is a seal with its armored SSHSIG signature (namespace SealNamespace).
type SealRecord struct {
	Seal      Seal   `json:"seal"`
	Signature string `json:"signature"`
}

// SealInfo is what the recorder knows when it closes a segment.
type SealInfo struct {
	End         time.Time
	Frames      int64
	TimeSource  string        // "rtcp" | "arrival"
	ClockOffset time.Duration // camera minus box
	CameraClock bool          // ClockOffset was measured from RTCP sender reports
	Flags       []string      // e.g. "time-untrusted", "clock-jump"

	LostPackets   int64 // RTP packets lost in this segment
	DroppedFrames int64 // access units left out (see Seal.DroppedFrames)
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

// VerifySeal checks rec's version and its signature over the canonical seal.
func VerifySeal(rec SealRecord, verify func(namespace string, msg, sig []byte) error) error {
	if rec.Seal.Version != 1 {
		return fmt.Errorf("verify seal %s: unknown version %d", rec.Seal.File, rec.Seal.Version)
	}
	msg, err := rec.Seal.Canonical()
	if err != nil {
		return fmt.Errorf("verify seal %s: %w", rec.Seal.File, err)
	}
	if err := verify(SealNamespace, msg, []byte(rec.Signature)); err != nil {
		return fmt.Errorf("verify seal %s: %w", rec.Seal.File, err)
	}
	return nil
}

// commitSeal appends seal to its camera's chain: it fills Version, Box, Seq,
// Prev and SealedAt, signs it, and in one transaction stores the sealed entry
// at key (replacing the open entry for seal.File there) or, if key is nil, at
// a fresh key, and advances the chain head. extra, if not nil, runs in the
// same transaction.
func (s *Store) commitSeal(op string, key []byte, seal Seal, extra func(tx *bolt.Tx) error) (SealRecord, error) {
	if s.ro {
		return SealRecord{}, fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	s.sealMu.Lock()
	defer s.sealMu.Unlock()

	var head chainHead
	err := s.view(op, func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bktChain), []byte(seal.Camera), &head)
		return err
	})
	if err != nil {
		return SealRecord{}, err
	}
	seal.Version = 1
	seal.Box = s.box
	seal.Seq = head.Seq + 1
	seal.Prev = head.Hash
	seal.Start, seal.End = seal.Start.UTC(), seal.End.UTC()
	seal.SealedAt = s.clock.Now().UTC().Round(0)
	msg, err := seal.Canonical()
	if err != nil {
		return SealRecord{}, fmt.Errorf("%s: %w", op, err)
	}
	sig, err := s.signer.Sign(SealNamespace, msg)
	if err != nil {
		return SealRecord{}, fmt.Errorf("%s: sign: %w", op, err)
	}
	rec := SealRecord{Seal: seal, Signature: string(sig)}
	sum := sha256.Sum256(msg)
	newHead := chainHead{Seq: seal.Seq, Hash: hex.EncodeToString(sum[:])}

	err = s.update(op, func(tx *bolt.Tx) error {
		var cur chainHead
		if _, err := getJSON(tx.Bucket(bktChain), []byte(seal.Camera), &cur); err != nil {
			return err
		}
		if cur != head {
			return errors.New("seal chain moved concurrently") // cannot happen under sealMu
		}
		segs := tx.Bucket(bktSegments)
		e := entry{Camera: seal.Camera, Start: seal.Start, File: seal.File, Codec: seal.Codec}
		k := key
		if k != nil {
			var old entry
			found, err := getJSON(segs, k, &old)
			if err != nil {
				return err
			}
			if !found || old.State != stateOpen || old.File != seal.File {
				return fmt.Errorf("open entry for %s not found", seal.File)
			}
			e.Start, e.Created = old.Start, old.Created
			if err := setPending(tx, k, false); err != nil {
				return err
			}
		} else {
			var err error
			if k, err = freeKey(tx, seal.Camera, seal.Start); err != nil {
				return err
			}
			e.Created = seal.SealedAt
		}
		e.State = stateSealed
		e.Record = &rec
		if err := putJSON(segs, k, e); err != nil {
			return err
		}
		if err := indexSealed(tx, k, seal); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bktChain), []byte(seal.Camera), newHead); err != nil {
			return err
		}
		if err := touchCamera(tx, seal.Camera, seal.End.Sub(seal.Start), 0); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		return SealRecord{}, err
	}
	return rec, nil
}

// freeKey returns a segment key for (camera, start) not used by any segment or
// disposal, distinguishing segments that start at the same instant.
func freeKey(tx *bolt.Tx, camera string, start time.Time) ([]byte, error) {
	segs, disp := tx.Bucket(bktSegments), tx.Bucket(bktDisposals)
	for dup := 0; dup <= 0xffff; dup++ {
		k := segKey(camera, start, uint16(dup))
		if segs.Get(k) == nil && disp.Get(k) == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("too many segments of %s starting at %s", camera, start)
}
