package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// candidate is a segment a deletion pass may delete, with its key.
type candidate struct {
	key  []byte
	seg  Segment
	held bool
}

// retentionCandidates returns the sealed segments whose camera's retention
// has expired at now, oldest end first: every held one, and at most limit
// (0: no limit) unheld ones. It also returns the keys of disposing entries
// met on the way (deletions interrupted by an error), so a pass can finish
// them.
//
// It walks the entries in start order from the oldest (segtable.go) and
// stops at the first start past the latest cutoff (start <= end, so nothing
// later can have expired), or, once it has limit unheld candidates, at the
// first start past their latest end. A pass costs O(cameras + what has
// expired + held footage) when every camera keeps footage as long; with
// resume (a retention pass, holding deleteMu) it walks, per retention, from
// where the last pass stopped instead (retention_resume.go), which costs
// that whatever the retentions.
func (s *Store) retentionCandidates(tx *bolt.Tx, now time.Time, p RetentionPolicy, limit int, holds []Hold, resume bool) ([]candidate, [][]byte, error) {
	if p.min() <= 0 {
		return nil, nil, nil
	}
	cutoffs := map[string]time.Time{} // camera → the latest end that has expired
	var cams []string
	if err := tx.Bucket(bktCameras).ForEach(func(k, _ []byte) error {
		if r := p.For(string(k)); r > 0 {
			cutoffs[string(k)] = now.Add(-r)
			cams = append(cams, string(k))
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	var cands []candidate
	var stuck [][]byte
	unheld := 0
	var lastEnd time.Time // the latest end of the unheld candidates
	cdc := newCodec(tx)
	var last *candidate // what the last visit took
	// visit returns false once nothing after k (in start order) can be a
	// candidate.
	visit := func(k, v []byte) (bool, error) {
		last = nil
		cam, start, ok := keyStart(k)
		if !ok {
			return true, nil // not a key this package writes: Check reports it
		}
		if limit > 0 && unheld >= limit && start.After(lastEnd) {
			return false, nil
		}
		cutoff, ok := cutoffs[cam]
		if !ok || start.After(cutoff) {
			return true, nil
		}
		if st, ok := entryState(v); ok && st == stateDisposing {
			stuck = append(stuck, slices.Clone(k)) // the last pass's batch, known without decoding
			return true, nil
		}
		e, err := cdc.decodeEntry(k, v)
		if err != nil {
			return false, err
		}
		switch {
		case e.State == stateDisposing:
			stuck = append(stuck, slices.Clone(k))
			return true, nil
		case e.State != stateSealed || e.Record == nil || e.Record.Seal.End.After(cutoff):
			return true, nil
		}
		g := Segment{Seal: e.Record.Seal, Path: s.abs(e.File), Signature: e.Record.Signature}
		_, held := holdFor(holds, cam, g.Start, g.End)
		cands = append(cands, candidate{key: slices.Clone(k), seg: g, held: held})
		last = &cands[len(cands)-1]
		if !held {
			unheld++
			if g.End.After(lastEnd) {
				lastEnd = g.End
			}
		}
		return true, nil
	}
	t := segTableOf(tx)
	if resume {
		s.walked = 0
	}
	if resume && t.old == nil && t.byStart != nil {
		next, err := s.resumedCandidates(tx, cams, p, now, visit, func() (bool, bool) {
			return last != nil && last.held, last != nil
		})
		if err != nil {
			return nil, nil, err
		}
		s.setResume(next)
	} else {
		var latest time.Time
		for _, c := range cutoffs {
			if c.After(latest) {
				latest = c
			}
		}
		if err := t.walkStarts(cams, startBytes(latest.Add(1)), func(k, v []byte) (bool, error) {
			if resume {
				s.walked++
			}
			return visit(k, v)
		}); err != nil {
			return nil, nil, err
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if c := a.seg.End.Compare(b.seg.End); c != 0 {
			return c
		}
		return bytes.Compare(a.key, b.key)
	})
	if limit > 0 {
		out, unheld := cands[:0], 0
		for _, c := range cands {
			if !c.held {
				if unheld == limit {
					continue
				}
				unheld++
			}
			out = append(out, c)
		}
		cands = out
	}
	return cands, stuck, nil
}

// RetentionCandidates returns the sealed segments whose end is at least
// their camera's retention before now, oldest end first: at most limit
// (0: no limit) that no hold protects, plus every held one met, so that
// PlanRetention can say why they stay. It walks the entries from the
// oldest to the latest cutoff (it does not move ApplyRetention's resume
// points): what has expired and held footage, and, where cameras keep
// footage for different times, the others' entries between the cutoffs.
func (s *Store) RetentionCandidates(now time.Time, p RetentionPolicy, limit int) ([]Segment, error) {
	var out []Segment
	err := s.view("retention candidates", func(tx *bolt.Tx) error {
		holds, err := activeHolds(tx)
		if err != nil {
			return err
		}
		cands, _, err := s.retentionCandidates(tx, now, p, limit, holds, false)
		for _, c := range cands {
			out = append(out, c.seg)
		}
		return err
	})
	return out, err
}

// ApplyRetention runs one retention pass at now: it deletes, as one batch,
// the candidates (at most limit unheld ones) that PlanRetention says to
// delete, with why "retention", by DisposeSegment's crash-safe procedure,
// and returns their disposal records, and the decisions to keep (footage
// under a hold). Deletions an error interrupted earlier are finished too.
//
// A pass costs one transaction: it fsyncs the directories of the previous
// pass's batch, whose files that pass unlinked, and records that batch
// (steps 2–4), and marks its own batch disposing (step 1); then it unlinks
// its files. Its own records are written by the next pass, or by Close,
// after the same fsyncs; a crash before either leaves disposing entries,
// whose files Recover unlinks (again, if they came back) and records.
// Until then the batch is absent from Segments; Disposals lists it from its
// disposing entries.
//
// Retention is audited by the hour, not per pass: each recording
// transaction adds its records to a running summary (meta
// "retention_rollup"), and the first pass an hour or more after the
// summary began appends it as one "retention.batch" entry (params count,
// bytes, oldest, newest, passes, and records: the SHA-256 over the lines
// "<file> <sha256>\n" of its disposal records in the order recorded), so
// the audit log grows by 24 entries a day, whatever the number of cameras.
//
// While deletion is paused it returns ErrDeletionPaused and deletes
// nothing new. A hold placed during the pass still protects: each segment
// is checked again in the transaction that marks it for deletion.
func (s *Store) ApplyRetention(now time.Time, p RetentionPolicy, limit int) (deleted []Disposal, kept []Decision, err error) {
	s.deleteMu.Lock()
	defer s.deleteMu.Unlock()
	var cands []candidate
	var stuck [][]byte
	var holds []Hold
	var paused bool
	var rollupDue bool
	err = s.view("retention", func(tx *bolt.Tx) error {
		r, err := getRollup(tx)
		if err != nil {
			return err
		}
		rollupDue = r.due(now)
		if p, err := getPause(tx); err != nil || p != nil {
			paused = p != nil
			return err
		}
		if holds, err = activeHolds(tx); err != nil {
			return err
		}
		cands, stuck, err = s.retentionCandidates(tx, now, p, limit, holds, true)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	var keys [][]byte
	if !paused {
		segs := make([]Segment, len(cands))
		for i, c := range cands {
			segs[i] = c.seg
		}
		keys = stuck
		for i, d := range PlanRetention(segs, holds, now, p) {
			if d.Delete {
				keys = append(keys, cands[i].key)
			} else {
				kept = append(kept, d)
			}
		}
	}
	if len(keys) == 0 && len(s.unrecorded) == 0 && !rollupDue {
		if paused {
			return nil, nil, ErrDeletionPaused
		}
		return nil, kept, nil
	}
	var ms []marked
	err = s.recordRetention(now, func(tx *bolt.Tx) error {
		if len(keys) == 0 {
			return nil
		}
		var err error
		ms, err = s.markInTx(tx, keys, WhyRetention, false)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if paused {
		return nil, nil, ErrDeletionPaused
	}
	done, dirs, uerr := s.unlinkFiles(ms)
	s.unrecorded, s.unsynced = done, startDirSync(dirs)
	if uerr != nil {
		s.resume = nil // the entries left disposing are for a walk to meet
	}
	for _, m := range done {
		deleted = append(deleted, disposalOf(m.e, m.e.DisposeAt, m.e.DisposeWhy))
	}
	return deleted, kept, uerr
}

// recordRetentionInTx records, in tx, the disposals of the last retention
// batch (s.unrecorded), adds them to the running retention summary, and
// returns the summary's audit entry when it is due at now.
func (s *Store) recordRetentionInTx(tx *bolt.Tx, now time.Time) ([]AuditEntry, error) {
	ds, _, err := s.recordInTx(tx, s.unrecorded, false)
	if err != nil {
		return nil, err
	}
	r, err := getRollup(tx)
	if err != nil {
		return nil, err
	}
	if err := r.add(ds, now); err != nil {
		return nil, err
	}
	var audit []AuditEntry
	if r.due(now) {
		audit = append(audit, s.auditAction("retention.batch", r.params()...))
		r = rollup{}
	}
	return audit, putRollup(tx, r)
}

// flushRetention records the last retention batch, if any (Close).
func (s *Store) flushRetention() error {
	s.deleteMu.Lock()
	defer s.deleteMu.Unlock()
	if len(s.unrecorded) == 0 || s.ro {
		return nil
	}
	return s.recordRetention(s.clock.Now().UTC(), nil)
}

// recordRetention records the last retention batch once its directories
// are committed, in one transaction with mark (if not nil) and the hourly
// audit entry when it is due at now. Called with deleteMu held.
func (s *Store) recordRetention(now time.Time, mark func(tx *bolt.Tx) error) error {
	if err := s.syncUnrecorded(); err != nil {
		return err
	}
	err := s.update("retention", func(tx *bolt.Tx) error {
		audit, err := s.recordRetentionInTx(tx, now)
		if err != nil {
			return err
		}
		if mark != nil {
			if err := mark(tx); err != nil {
				return err
			}
		}
		return s.auditHookBatch(tx, audit)
	})
	if err == nil {
		s.unrecorded = nil
	}
	return err
}

// dirSync commits the directories of a retention batch in the background
// (syncDirs), from the pass that unlinked its files until the next pass,
// which waits for it before recording the batch.
type dirSync struct {
	dirs map[string]bool
	done chan error
}

func startDirSync(dirs map[string]bool) *dirSync {
	if len(dirs) == 0 {
		return nil
	}
	d := &dirSync{dirs: dirs, done: make(chan error, 1)}
	go func() { d.done <- syncDirs(dirs) }()
	return d
}

// syncUnrecorded waits until the directories of the last retention batch
// are committed, so that its unlinks are durable before the transaction
// that records them. The pass that unlinked them started the commit (one
// syncfs) and left it running; a pass a minute later finds it long done.
// A crash before then leaves the entries disposing, which Recover
// finishes. On failure the batch is forgotten: its entries stay disposing,
// and the next pass finds them so and deletes them again (as it does any
// disposing entry it meets).
func (s *Store) syncUnrecorded() error {
	if s.unsynced == nil {
		return nil
	}
	err := <-s.unsynced.done
	s.unsynced = nil
	if err != nil {
		s.unrecorded = nil
		s.resume = nil // for the next pass's walk to meet them
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}

// batchAudit returns a batch hook that returns the audit entry action
// (params count, bytes, oldest start, newest end, then extra) for the
// disposals of a batch, if there are any.
func (s *Store) batchAudit(action string, extra []string) batchHook {
	return func(tx *bolt.Tx, ds []Disposal) ([]AuditEntry, error) {
		if len(ds) == 0 {
			return nil, nil
		}
		var bytes int64
		oldest, newest := ds[0].Start, ds[0].End
		for _, d := range ds {
			if d.Seal != nil {
				bytes += d.Seal.Seal.Bytes
			}
			if d.Start.Before(oldest) {
				oldest = d.Start
			}
			if d.End.After(newest) {
				newest = d.End
			}
		}
		// records: the SHA-256 of the lines "<file> <sha256>\n" of the
		// batch's disposal records in order, so the entry names exactly
		// what the batch destroyed.
		h := sha256.New()
		for _, d := range ds {
			fmt.Fprintf(h, "%s %s\n", d.File, d.SHA256)
		}
		params := append([]string{"count", strconv.Itoa(len(ds)), "bytes", strconv.FormatInt(bytes, 10),
			"oldest", fmtTime(oldest), "newest", fmtTime(newest), "records", hex.EncodeToString(h.Sum(nil))}, extra...)
		return []AuditEntry{s.auditAction(action, params...)}, nil
	}
}
