package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/council/cctv/internal/fsutil"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// DisposeSegment deletes the segment of camera starting at start (every
// segment starting at that instant, if the clock made several) and leaves a
// Disposal record with why. The steps are: mark the entry disposing (one
// transaction), unlink the file, fsync its directory, replace the entry with
// the disposal record (one transaction). A crash between steps leaves a
// disposing entry, which Recover finishes. DisposeSegment is idempotent: a
// segment already disposed returns nil. It returns ErrNotFound for an
// unknown segment, ErrOpen for one still being recorded, and ErrHeld
// (changing nothing) for footage overlapping a hold in force; with why
// "retention" or "disk-pressure" it returns ErrDeletionPaused while deletion
// is paused. Each disposal record commits with its audit entry
// "segment.dispose".
func (s *Store) DisposeSegment(camera string, start time.Time, why string) error {
	op := fmt.Sprintf("dispose %s segment %s", camera, start.UTC().Format(time.RFC3339Nano))
	if why == "" {
		return fmt.Errorf("%s: a reason is required", op)
	}
	if s.ro {
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	if s.note == nil {
		return fmt.Errorf("%s: %w", op, ErrNoSigner) // before any step: the last one must be audited
	}
	var keys [][]byte
	disposed := false
	err := s.view(op, func(tx *bolt.Tx) error {
		it := segTableOf(tx).at(camera, start)
		for k, v := it.next(); k != nil; k, v = it.next() {
			e, err := newCodec(tx).decodeEntry(k, v)
			if err != nil {
				return err
			}
			if e.State == stateOpen {
				return ErrOpen
			}
			keys = append(keys, slices.Clone(k))
		}
		disposed = singlesOf(tx).anyAt(camera, start)
		if !disposed {
			packed, err := newCodec(tx).packedAt(camera, start)
			disposed = len(packed) > 0
			return err
		}
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
	_, err = s.disposeKeys(op, keys, why, true, true, nil)
	return err
}

// Reasons for a disposal (Disposal.Why).
const (
	WhyRetention    = "retention"
	WhyDiskPressure = "disk-pressure"
	WhyFileMissing  = "file-missing"
)

// pausable reports whether deletions for why stop while deletion is paused.
func pausable(why string) bool { return why == WhyRetention || why == WhyDiskPressure }

// marked is an entry in state disposing, as read when it was marked.
type marked struct {
	key []byte
	e   entry
}

// disposeKeys deletes the segments at keys as one batch, crash-safely: one
// transaction marks them all disposing (step 1), then their files are
// unlinked and their directories fsynced (step 2), then one transaction
// replaces every entry whose file is gone with its disposal record and
// "segment.dispose" audit entry (steps 3–4); batch, if not nil, runs in that
// transaction with the records. Entries already disposing (an interrupted
// deletion) are finished too.
//
// strict (DisposeSegment): a held or open entry fails the whole call with
// ErrHeld or ErrOpen before anything changes. Otherwise (retention, pressure
// passes, which planned from an earlier read) such entries are skipped. With
// why retention or disk-pressure, a paused deletion (PauseDeletion) fails
// with ErrDeletionPaused before anything changes.
//
// If an unlink fails, the entries unlinked before it are still recorded and
// the error returned; the rest stay disposing, for the next pass or Recover.
//
// perSegment audits each disposal ("segment.dispose"); retention passes
// audit only their batch (batch hook), so the audit log grows per pass, not
// per segment.
func (s *Store) disposeKeys(op string, keys [][]byte, why string, strict, perSegment bool, batch batchHook) ([]Disposal, error) {
	ms, err := s.markDisposing(op, keys, why, strict)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	done, uerr := s.unlinkMarked(ms)
	if len(done) == 0 {
		return nil, uerr
	}
	ds, err := s.recordDisposals(op, done, perSegment, batch)
	if err != nil {
		return nil, err
	}
	return ds, uerr
}

// markDisposing is step 1: the sealed entries at keys become disposing, in
// one transaction. It returns the entries now disposing (including those that
// already were), in the order of keys.
func (s *Store) markDisposing(op string, keys [][]byte, why string, strict bool) ([]marked, error) {
	var out []marked
	err := s.update(op, func(tx *bolt.Tx) error {
		var err error
		out, err = s.markInTx(tx, keys, why, strict)
		return err
	})
	return out, err
}

// markInTx is markDisposing's work inside tx.
func (s *Store) markInTx(tx *bolt.Tx, keys [][]byte, why string, strict bool) ([]marked, error) {
	var out []marked
	if pausable(why) {
		p, err := getPause(tx)
		if err != nil {
			return nil, err
		}
		if p != nil {
			return nil, ErrDeletionPaused
		}
	}
	holds, err := activeHolds(tx)
	if err != nil {
		return nil, err
	}
	now := s.disposalTime()
	segs, cdc := segTableOf(tx), newCodec(tx)
	for _, k := range keys {
		v := segs.get(k)
		if v == nil {
			continue // gone: disposed concurrently
		}
		e, err := cdc.decodeEntry(k, v)
		if err != nil {
			return nil, err
		}
		switch e.State {
		case stateDisposing:
			out = append(out, marked{key: k, e: e})
			continue
		case stateOpen:
			if strict {
				return nil, ErrOpen
			}
			continue
		}
		if e.Record != nil {
			if h, ok := holdFor(holds, e.Camera, e.Record.Seal.Start, e.Record.Seal.End); ok {
				if strict {
					return nil, fmt.Errorf("%w %s (case %s)", ErrHeld, h.ID, h.Case)
				}
				continue
			}
		}
		e.State = stateDisposing
		e.DisposeWhy = why
		e.DisposeAt = now
		nv, ok := disposingValue(k, v, e)
		if !ok {
			if nv, err = cdc.encodeEntry(k, e); err != nil {
				return nil, err
			}
		}
		if err := segs.put(k, nv); err != nil {
			return nil, err
		}
		if err := addCount(tx, e.Camera, -1); err != nil {
			return nil, err
		}
		if err := setPending(tx, k, true); err != nil {
			return nil, err
		}
		out = append(out, marked{key: k, e: e})
	}
	return out, nil
}

// unlinkMarked is step 2: unlink each file, then fsync each directory once.
// It returns the entries whose file is gone, up to the first failure.
func (s *Store) unlinkMarked(ms []marked) ([]marked, error) {
	done, dirs, err := s.unlinkFiles(ms)
	if serr := syncDirs(dirs); serr != nil {
		// The unlinks may not be durable: leave every entry disposing
		// (Recover or the next pass finishes them).
		return nil, fmt.Errorf("dispose: %w", serr)
	}
	return done, err
}

// unlinkFiles unlinks each file, up to the first failure, and returns the
// entries whose file is gone and the directories to fsync before they are
// recorded.
func (s *Store) unlinkFiles(ms []marked) ([]marked, map[string]bool, error) {
	dirs := map[string]bool{}
	var done []marked
	for _, m := range ms {
		path := s.abs(m.e.File)
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return done, dirs, &SegmentError{Op: "dispose", Camera: m.e.Camera, Path: path, Err: rerr}
		}
		if testOnlyAfterUnlink != nil {
			testOnlyAfterUnlink(m.e.File)
		}
		dirs[filepath.Dir(path)] = true
		done = append(done, m)
	}
	return done, dirs, nil
}

// syncDirs makes the removals in each of dirs durable. One or two
// directories are fsynced; more (a retention pass spans one per camera) are
// committed by one syncfs(2) per filesystem they are on, because each
// directory fsync is a journal commit and a disk flush of its own (64 of
// them took 17–216 ms here, one syncfs about 3 ms). syncfs also writes out
// what the recorder has not yet fsynced (at most its sync_interval of
// footage), which its own fsyncs would have written moments later.
// Missing directories are skipped.
func syncDirs(dirs map[string]bool) error {
	if len(dirs) <= 2 {
		for d := range dirs {
			if err := fsutil.SyncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	byDev := map[uint64]string{}
	for d := range dirs {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("sync dir %s: %w", d, err)
		}
		byDev[st.Dev] = d
	}
	for _, d := range byDev {
		if err := fsutil.SyncFS(d); err != nil {
			return err
		}
	}
	return nil
}

// batchHook runs in the transaction that records a batch's disposals, after
// them, and returns audit entries to append after their "segment.dispose"
// entries.
type batchHook func(tx *bolt.Tx, ds []Disposal) ([]AuditEntry, error)

// recordDisposals is steps 3–4: in one transaction, each disposing entry is
// replaced by its disposal record with its audit entry "segment.dispose"
// (params camera, file, why, sha256); batch, if not nil, runs last, and its
// entries follow. The batch's audit entries are appended together, with one
// head check and one signed head (appendAuditBatch).
func (s *Store) recordDisposals(op string, ms []marked, perSegment bool, batch batchHook) ([]Disposal, error) {
	var out []Disposal
	err := s.update(op, func(tx *bolt.Tx) error {
		var audit []AuditEntry
		var err error
		out, audit, err = s.recordInTx(tx, ms, perSegment)
		if err != nil {
			return err
		}
		if batch != nil {
			more, err := batch(tx, out)
			if err != nil {
				return err
			}
			audit = append(audit, more...)
		}
		return s.auditHookBatch(tx, audit)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// recordInTx is recordDisposals' work inside tx, without the batch hook: it
// returns the disposal records and, with perSegment, their
// "segment.dispose" audit entries, for the caller to append.
func (s *Store) recordInTx(tx *bolt.Tx, ms []marked, perSegment bool) ([]Disposal, []AuditEntry, error) {
	var out []Disposal
	var audit []AuditEntry
	b := segTableOf(tx)
	for _, m := range ms {
		cur, found, err := getEntry(tx, m.key)
		if err != nil {
			return nil, nil, err
		}
		if !found {
			continue // recorded concurrently
		}
		if cur.State != stateDisposing || cur.File != m.e.File {
			return nil, nil, fmt.Errorf("entry for %s changed to %s", m.e.File, cur.State)
		}
		d := disposalOf(cur, cur.DisposeAt, cur.DisposeWhy)
		if err := s.restoreSigned(tx, m.key); err != nil {
			return nil, nil, err
		}
		if err := b.delete(m.key); err != nil {
			return nil, nil, err
		}
		if d.Seal != nil {
			vouched, err := vouchedBySuccessor(tx, m.key, d.Seal.Seal)
			if err != nil {
				return nil, nil, err
			}
			if vouched {
				d.Seal.Signature = ""
			}
		}
		if err := unindex(tx, m.key, cur, false); err != nil {
			return nil, nil, err
		}
		if err := setPending(tx, m.key, false); err != nil {
			return nil, nil, err
		}
		if err := putDisposal(tx, m.key, d); err != nil {
			return nil, nil, err
		}
		if perSegment {
			audit = append(audit, s.auditAction("segment.dispose",
				"camera", d.Camera, "file", d.File, "why", d.Why, "sha256", d.SHA256))
		}
		out = append(out, d)
	}
	return out, audit, nil
}

// vouchedBySuccessor reports whether the entry after key k (just removed
// from the segments bucket in tx) is the next seal of sl's camera and names
// sl by hash. Such a seal's signature is not kept in its disposal record:
// its content is authenticated by the hash link from a signed successor
// (Check verifies the signature of every seal no successor vouches for), and
// the 68 bytes a record saves are a third of the disposal records kept for
// the grace period.
func vouchedBySuccessor(tx *bolt.Tx, k []byte, sl Seal) (bool, error) {
	cdc := newCodec(tx)
	it := segTableOf(tx).iter(sl.Camera, keySuffix(k), nil, false)
	for nk, nv := it.next(); nk != nil; nk, nv = it.next() {
		if bytes.Equal(nk, k) {
			continue
		}
		seq, prev, sealed, err := cdc.sealLink(nk, nv)
		if err != nil || sealed {
			return err == nil && seq == sl.Seq+1 && prev == sl.Hash(), err
		}
		// An open entry: the next seal is further on (vouch.go).
	}
	return false, nil
}

// finishDisposal is steps 2–4 for the one disposing entry at k (Recover);
// extra, if not nil, runs in the transaction that records it and returns
// audit entries to append after its "segment.dispose" entry.
func (s *Store) finishDisposal(op string, k []byte, extra func(tx *bolt.Tx) ([]AuditEntry, error)) error {
	var e entry
	var found bool
	err := s.view(op, func(tx *bolt.Tx) error {
		var err error
		e, found, err = getEntry(tx, k)
		return err
	})
	if err != nil || !found {
		return err
	}
	if e.State != stateDisposing {
		return fmt.Errorf("%s: entry is %s, not disposing", op, e.State)
	}
	done, err := s.unlinkMarked([]marked{{key: k, e: e}})
	if err != nil || len(done) == 0 {
		return err
	}
	_, err = s.recordDisposals(op, done, true, func(tx *bolt.Tx, _ []Disposal) ([]AuditEntry, error) {
		if extra != nil {
			return extra(tx)
		}
		return nil, nil
	})
	return err
}

// testOnlyAfterUnlink, if set (tests only), is called after each unlink of
// a disposal, with the file's relative path.
var testOnlyAfterUnlink func(rel string)

// disposalTime is the time a deletion starting now is recorded with: to
// the millisecond, so that in a disposal block a record's time costs
// three bytes, not six (blocks.go: its difference from the one before).
func (s *Store) disposalTime() time.Time {
	return s.clock.Now().UTC().Truncate(time.Millisecond)
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
