package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/council/cctv/internal/seal"
)

// Seal is the signed statement about one segment file (see internal/seal:
// one definition for the store and for the verifier of packages).
type Seal = seal.Seal

// SealRecord is a seal with its armored SSHSIG signature (namespace SealNamespace).
type SealRecord = seal.Record

// Seal states.
const (
	SealSealed    = "sealed"
	SealRecovered = "recovered"
	SealAdopted   = "adopted"
)

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
	LeadingFrames int64 // frames shown before the segment's first keyframe (see Seal.LeadingFrames)

	// Activity, if not nil, is the segment's activity (EncodeActivity),
	// stored with the seal in the same transaction.
	Activity []byte
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
// a fresh key, with activity (EncodeActivity's form, or nil) kept in the
// entry, and advances the chain head. extra, if not nil, runs in the same
// transaction; txOnly says it only writes tx, so that the commit may share
// a batch with other cameras' (bbolt may run it more than once).
func (s *Store) commitSeal(op string, key []byte, seal Seal, activity []byte, extra func(tx *bolt.Tx) error, txOnly bool) (SealRecord, error) {
	if s.ro {
		return SealRecord{}, fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	mu := s.sealMu(seal.Camera)
	mu.Lock()
	defer mu.Unlock()

	packed, err := storedActivity(activity)
	if err != nil {
		return SealRecord{}, fmt.Errorf("%s: %w", op, err)
	}
	var head chainHead
	err = s.view(op, func(tx *bolt.Tx) error {
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

	commit := s.update
	if extra == nil || txOnly {
		commit = s.batch // fn only writes tx: safe to run again
	}
	err = commit(op, func(tx *bolt.Tx) error {
		var cur chainHead
		if _, err := getJSON(tx.Bucket(bktChain), []byte(seal.Camera), &cur); err != nil {
			return err
		}
		if cur != head {
			return errors.New("seal chain moved concurrently") // cannot happen under the camera's sealMu
		}
		e := entry{Camera: seal.Camera, Start: seal.Start, File: seal.File, Codec: seal.Codec}
		k := key
		if k != nil {
			old, found, err := getEntry(tx, k)
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
		// The seal before k: vouched for by this one, or signed (vouch.go).
		if err := s.settlePrevious(tx, k, head); err != nil {
			return err
		}
		e.State = stateSealed
		e.Record = &rec
		e.Activity = packed
		if writesBelow(4) && activity != nil {
			e.Activity = nil
			if err := testOnlyPutActivity(tx, k, activity); err != nil {
				return err
			}
		}
		if err := putEntry(tx, k, e); err != nil {
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
	if key == nil {
		s.entryAdded(seal.Start)
	}
	return rec, nil
}

// freeKey returns a segment key for (camera, start) not used by any segment or
// disposal, distinguishing segments that start at the same instant.
func freeKey(tx *bolt.Tx, camera string, start time.Time) ([]byte, error) {
	segs, disp := segTableOf(tx), singlesOf(tx)
	packed, err := newCodec(tx).packedAt(camera, start)
	if err != nil {
		return nil, err
	}
	for dup := 0; dup <= 0xffff; dup++ {
		k := segKey(camera, start, uint16(dup))
		if segs.get(k) == nil && disp.get(k) == nil && !packed[string(k)] {
			return k, nil
		}
	}
	return nil, fmt.Errorf("too many segments of %s starting at %s", camera, start)
}
