package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/council/cctv/internal/fsutil"
	bolt "go.etcd.io/bbolt"
)

// DisposeSegment deletes the segment of camera starting at start (every
// segment starting at that instant, if the clock made several) and leaves a
// Disposal record with why. The steps are: mark the entry disposing (one
// transaction), unlink the file, fsync its directory, replace the entry with
// the disposal record (one transaction). A crash between steps leaves a
// disposing entry, which Recover finishes. DisposeSegment is idempotent: a
// segment already disposed returns nil. It returns ErrNotFound for an
// unknown segment and ErrOpen for one still being recorded. Each disposal
// record commits with its audit entry "segment.dispose".
func (s *Store) DisposeSegment(camera string, start time.Time, why string) error {
	op := fmt.Sprintf("dispose %s segment %s", camera, start.UTC().Format(time.RFC3339Nano))
	if why == "" {
		return fmt.Errorf("%s: a reason is required", op)
	}
	if !s.ro && s.note == nil {
		return fmt.Errorf("%s: %w", op, ErrNoSigner) // before any step: the last one must be audited
	}
	var keys [][]byte
	disposed := false
	err := s.view(op, func(tx *bolt.Tx) error {
		prefix := timeKey(camera, start)
		c := tx.Bucket(bktSegments).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var e entry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if e.State == stateOpen {
				return ErrOpen
			}
			keys = append(keys, slices.Clone(k))
		}
		dk, _ := tx.Bucket(bktDisposals).Cursor().Seek(prefix)
		disposed = dk != nil && bytes.HasPrefix(dk, prefix)
		return nil
	})
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		if disposed {
			return nil
		}
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	for _, k := range keys {
		if err := s.markDisposing(op, k, why); err != nil {
			return err
		}
		if err := s.finishDisposal(op, k, nil); err != nil {
			return err
		}
	}
	return nil
}

// markDisposing is step 1: the sealed entry at k becomes disposing.
func (s *Store) markDisposing(op string, k []byte, why string) error {
	return s.update(op, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSegments)
		var e entry
		found, err := getJSON(b, k, &e)
		if err != nil || !found {
			return err // gone: disposed concurrently
		}
		switch e.State {
		case stateDisposing:
			return nil
		case stateOpen:
			return ErrOpen
		}
		e.State = stateDisposing
		e.DisposeWhy = why
		e.DisposeAt = s.clock.Now().UTC().Round(0)
		return putJSON(b, k, e)
	})
}

// finishDisposal is steps 2–4 for the disposing entry at k: unlink, fsync the
// directory, replace the entry with a disposal record and append the audit
// entry "segment.dispose" (params camera, file, why, sha256) in the same
// transaction. extra, if not nil, also runs in it.
func (s *Store) finishDisposal(op string, k []byte, extra func(tx *bolt.Tx, e entry) error) error {
	var e entry
	var found bool
	err := s.view(op, func(tx *bolt.Tx) error {
		var err error
		found, err = getJSON(tx.Bucket(bktSegments), k, &e)
		return err
	})
	if err != nil || !found {
		return err
	}
	if e.State != stateDisposing {
		return fmt.Errorf("%s: entry is %s, not disposing", op, e.State)
	}
	path := s.abs(e.File)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &SegmentError{Op: "dispose", Camera: e.Camera, Path: path, Err: err}
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", op, err)
	}
	d := disposalOf(e, e.DisposeAt, e.DisposeWhy)
	return s.update(op, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSegments)
		var cur entry
		if found, err := getJSON(b, k, &cur); err != nil || !found {
			return err
		}
		if cur.State != stateDisposing || cur.File != e.File {
			return fmt.Errorf("entry changed to %s", cur.State)
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bktDisposals), k, d); err != nil {
			return err
		}
		if err := s.auditHook(tx, s.auditAction("segment.dispose",
			"camera", d.Camera, "file", d.File, "why", d.Why, "sha256", d.SHA256)); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx, cur)
		}
		return nil
	})
}

func disposalOf(e entry, when time.Time, why string) Disposal {
	d := Disposal{Camera: e.Camera, Start: e.Start, End: e.Start, File: e.File, When: when, Why: why}
	if e.Record != nil {
		rec := *e.Record
		d.End = rec.Seal.End
		d.SHA256 = rec.Seal.SHA256
		d.Seal = &rec
	}
	return d
}
