package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Kept seals without their signatures (schema 6).
//
// Every seal is signed when it is made. Once the camera's next seal is
// committed and names it by hash, the signature adds nothing a check
// needs: that successor's signature (or its own successor's, and so on)
// authenticates the seal's content through the hash links, as it already
// does for disposal records (vouchedBySuccessor). So the successor's seal
// transaction stores the seal's entry again without its signature
// (settlePrevious): 67 of a sealed entry's 230 or so bytes. Every seal whose
// sequence number is a multiple of signatureEvery keeps its signature, so
// the chain from any kept seal to a stored signature is at most that long.
//
// Invariant: after a kept seal with no signature, the next entry with a
// seal in its camera's key order is its successor, naming it by hash.
// The store keeps it true: before a seal is committed between the two
// (the clock stepped back) or the successor leaves the segments bucket
// (disposal, a missing file), the seal's signature is made again
// (restoreSigned). So the chain from a kept unsigned seal to the next
// stored signature runs through kept entries only, which a fold never
// touches.
//
// A signature is made again (resign) only after that chain verifies link
// by link and its last signature verifies with the box key. The box key is
// an Ed25519 key, whose signatures are deterministic: what is made again
// is byte for byte the signature made at sealing. SignedSegments does this
// for exports, whose seal files carry a signature each.
const signatureEvery = 64

// keepsSignature reports whether the seal numbered seq keeps its signature
// whatever vouches for it.
func keepsSignature(seq uint64) bool { return seq%signatureEvery == 0 }

// chainLink is one seal met on a walk along a camera's entries.
type chainLink struct {
	key []byte
	e   entry
}

// sealedNear returns the entry with a seal nearest before (back) or after k
// in k's camera, skipping open entries; found is false if there is none.
func sealedNear(tx *bolt.Tx, k []byte, back bool) (chainLink, bool, error) {
	camera, _, ok := keyStart(k)
	if !ok {
		return chainLink{}, false, nil
	}
	it := segTableOf(tx).iter(camera, keySuffix(k), nil, back)
	cdc := newCodec(tx)
	for ck, cv := it.next(); ck != nil; ck, cv = it.next() {
		if bytes.Equal(ck, k) {
			continue
		}
		e, err := cdc.decodeEntry(ck, cv)
		if err != nil {
			return chainLink{}, false, err
		}
		if e.Record != nil {
			return chainLink{key: bytes.Clone(ck), e: e}, true, nil
		}
	}
	return chainLink{}, false, nil
}

// errNotVouched is wrapped when a kept seal's chain to a stored signature
// does not verify.
var errNotVouched = errors.New("no verified chain to a signed seal")

// resign returns the signature of the kept seal l, made again after the
// chain from it to the next stored signature verifies (see signatureEvery),
// or its stored signature if it has one. verified, if not nil, holds the
// hashes of seals already vouched for, where a walk may stop, and gets
// those of this walk, so that SignedSegments walks each link once.
func (s *Store) resign(tx *bolt.Tx, l chainLink, verified map[string]bool) (string, error) {
	if l.e.Record.Signature != "" {
		return l.e.Record.Signature, nil
	}
	sl := l.e.Record.Seal
	msg, err := sl.Canonical()
	if err != nil {
		return "", err
	}
	sign := func(walked []string) (string, error) {
		if verified != nil {
			for _, h := range walked {
				verified[h] = true
			}
		}
		b, err := s.signer.Sign(SealNamespace, msg)
		return string(b), err
	}
	cur, hash := l, sl.Hash()
	walked := []string{hash}
	if verified[hash] {
		return sign(nil)
	}
	for range 4 * signatureEvery {
		next, found, err := sealedNear(tx, cur.key, false)
		if err != nil {
			return "", err
		}
		if !found {
			return "", fmt.Errorf("seal %s: %w: it is the camera's last", sl.File, errNotVouched)
		}
		ns := next.e.Record.Seal
		if ns.Seq != cur.e.Record.Seal.Seq+1 || ns.Prev != hash {
			return "", fmt.Errorf("seal %s: %w: %s does not name %s", sl.File, errNotVouched, ns.File, cur.e.Record.Seal.File)
		}
		cur, hash = next, ns.Hash()
		if verified[hash] {
			return sign(walked)
		}
		if next.e.Record.Signature != "" {
			if err := VerifySeal(*next.e.Record, s.signer.Verify); err != nil {
				return "", fmt.Errorf("seal %s: %w: %v", sl.File, errNotVouched, err)
			}
			return sign(append(walked, hash))
		}
		walked = append(walked, hash)
	}
	return "", fmt.Errorf("seal %s: %w within %d seals", sl.File, errNotVouched, 4*signatureEvery)
}

// restoreSigned stores the signature of the kept seal before k (nearest in
// k's camera) again if it has none, because the entry at k is about to
// leave or a seal is about to be committed at k (see the invariant above).
// A seal whose chain does not verify is left as it is, for Check to report.
func (s *Store) restoreSigned(tx *bolt.Tx, k []byte) error {
	p, found, err := sealedNear(tx, k, true)
	if err != nil || !found || p.e.Record.Signature != "" {
		return err
	}
	return s.restoreSeal(tx, p)
}

// restoreSeal stores the signature of the unsigned kept seal p again.
func (s *Store) restoreSeal(tx *bolt.Tx, p chainLink) error {
	sig, err := s.resign(tx, p, nil)
	if errors.Is(err, errNotVouched) {
		s.log.Warn("a kept seal's chain does not verify: its signature stays missing (cctv check reports it)", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	rec := *p.e.Record
	rec.Signature = sig
	p.e.Record = &rec
	return putEntry(tx, p.key, p.e)
}

// settlePrevious is commitSeal's part of the invariant, before the seal
// naming head is stored at k: the kept seal before k (nearest in k's
// camera) gets its signature again if it has none (its successor is not
// the new seal), or is stored without it if it is head and its sequence
// number does not keep one.
func (s *Store) settlePrevious(tx *bolt.Tx, k []byte, head chainHead) error {
	p, found, err := sealedNear(tx, k, true)
	if err != nil || !found {
		return err
	}
	if p.e.Record.Signature == "" {
		return s.restoreSeal(tx, p)
	}
	if keepsSignature(head.Seq) || writesBelow(6) || p.e.State != stateSealed ||
		p.e.Record.Seal.Seq != head.Seq || p.e.Record.Seal.Hash() != head.Hash {
		return nil
	}
	rec := *p.e.Record
	rec.Signature = ""
	p.e.Record = &rec
	return putEntry(tx, p.key, p.e)
}

// SignedSegments is Segments with every segment's signature: a kept seal
// stored without one (see signatureEvery) gets it made again once its
// chain to a stored signature verifies. Exports use it; a seal whose chain
// does not verify is an error that names it (run cctv check).
func (s *Store) SignedSegments(camera string, from, to time.Time) ([]Segment, error) {
	if s.signer == nil {
		return nil, fmt.Errorf("signed segments of %s: %w", camera, ErrReadOnly)
	}
	var out []Segment
	err := s.view("signed segments of "+camera, func(tx *bolt.Tx) error {
		var keys [][]byte
		segs, err := s.segmentsIn(tx, camera, from, to, &keys)
		if err != nil {
			return err
		}
		verified := map[string]bool{}
		for i := range segs {
			g := &segs[i]
			if g.Signature != "" {
				continue
			}
			l := chainLink{key: keys[i], e: entry{Record: &SealRecord{Seal: g.Seal}}}
			if g.Signature, err = s.resign(tx, l, verified); err != nil {
				return err
			}
		}
		out = segs
		return nil
	})
	return out, err
}
