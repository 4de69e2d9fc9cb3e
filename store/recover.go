package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"strconv"
	"time"

	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/tsscan"
	bolt "go.etcd.io/bbolt"
)

// RecoveryAction is one thing Recover did.
type RecoveryAction struct {
	// Kind is "recovered", "adopted", "quarantined", "file-missing",
	// "removed-empty" or "disposed" (a deletion interrupted by a crash, finished).
	Kind   string
	Camera string
	Path   string // relative to data_dir; for "quarantined", the new path
	Detail string
}

// Recover reconciles index and disk after a crash; the recorder calls it
// before it reports ready. After it returns nil, index and disk agree exactly
// (Check without deep finds nothing). Each step is idempotent, so a crash
// during Recover is handled by the next one.
//
//   - open entry whose file exists: the file is truncated to its last whole
//     TS packet, scanned for frames and its PTS span (end = start + span + one
//     frame), hashed, and sealed "recovered" with flag "crash"; a gap "crash"
//     from that end to now is recorded in the same transaction. With no frames
//     (or no file) the file and entry are removed ("removed-empty").
//   - sealed entry whose file is gone: the entry becomes a Disposal with why
//     "file-missing" (keeping its seal) and a Gap "file-missing", in one
//     transaction.
//   - disposing entry: the deletion is finished ("disposed").
//   - file under segments/ with no entry: a zero-byte file is removed
//     ("removed-empty"); a file whose name parses, whose camera is in
//     knownCameras and which holds frames is sealed "adopted" with time source
//     "filename" and is not modified; anything else is moved to quarantine/
//     under its relative path. Footage is never deleted.
func (s *Store) Recover(knownCameras []string) ([]RecoveryAction, error) {
	if s.ro {
		return nil, fmt.Errorf("recover: %w", ErrReadOnly)
	}
	if s.note == nil {
		return nil, fmt.Errorf("recover: %w", ErrNoSigner)
	}
	var entries []keyed
	if err := s.view("recover", func(tx *bolt.Tx) error {
		var err error
		entries, err = s.allEntries(tx)
		return err
	}); err != nil {
		return nil, err
	}
	var acts []RecoveryAction
	act := func(a RecoveryAction) {
		s.log.Info("recovery", "action", a.Kind, "camera", a.Camera, "path", a.Path, "detail", a.Detail)
		acts = append(acts, a)
	}
	known := map[string]bool{}
	for _, ke := range entries {
		e := ke.e
		known[e.File] = true
		switch e.State {
		case stateOpen:
			a, err := s.recoverOpen(ke)
			if err != nil {
				return acts, err
			}
			act(a)
		case stateSealed:
			if _, err := os.Lstat(s.abs(e.File)); err == nil || !errors.Is(err, fs.ErrNotExist) {
				continue // present (or unreadable: Check will say so)
			}
			a := RecoveryAction{Kind: "file-missing", Camera: e.Camera, Path: e.File,
				Detail: "recorded a file-missing gap and disposal"}
			if err := s.fileMissing(ke, a); err != nil {
				return acts, err
			}
			act(a)
		case stateDisposing:
			a := RecoveryAction{Kind: "disposed", Camera: e.Camera, Path: e.File,
				Detail: "finished interrupted deletion: " + e.DisposeWhy}
			if err := s.finishDisposal("recover", ke.key, func(tx *bolt.Tx) error {
				err := s.auditHook(tx, s.recoveryEntry(a))
				return err
			}); err != nil {
				return acts, err
			}
			act(a)
		}
	}

	cams := map[string]bool{}
	for _, c := range knownCameras {
		cams[c] = true
	}
	files, err := s.diskFiles()
	if err != nil {
		return acts, err
	}
	for _, rel := range files {
		if known[rel] {
			continue
		}
		a, err := s.recoverUnknown(rel, cams)
		if err != nil {
			return acts, err
		}
		act(a)
	}
	return acts, nil
}

func (s *Store) recoverOpen(ke keyed) (RecoveryAction, error) {
	return s.recoverOpenAs(ke, "crash")
}

// recoverOpenAs seals the file of an open entry as recovered with the given
// flag. After a crash ("crash") the time from its end to now is a gap; a
// segment salvaged while the recorder runs ("salvaged") leaves the gap to
// the recorder, which knows when footage resumed. The action's audit entry
// is appended in the transaction that performs it.
func (s *Store) recoverOpenAs(ke keyed, flag string) (RecoveryAction, error) {
	e := ke.e
	a := RecoveryAction{Camera: e.Camera, Path: e.File}
	if s.note == nil {
		return a, fmt.Errorf("recover %s: %w", e.File, ErrNoSigner)
	}
	audit := func(kind, detail string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			err := s.auditHook(tx, s.recoveryEntry(RecoveryAction{Kind: kind, Camera: e.Camera, Path: e.File, Detail: detail}))
			return err
		}
	}
	if _, err := os.Lstat(s.abs(e.File)); errors.Is(err, fs.ErrNotExist) {
		a.Kind, a.Detail = "removed-empty", "open entry without a file"
		if err := s.removeOpen(ke.key, e.File, audit(a.Kind, a.Detail)); err != nil {
			return a, err
		}
		return a, nil
	}
	now := s.clock.Now().UTC().Round(0)
	var detail string
	_, err := s.recoverFile(ke.key, e, []string{flag}, func(tx *bolt.Tx, seal Seal) error {
		detail = fmt.Sprintf("%d bytes, %d frames, flags %v", seal.Bytes, seal.Frames, seal.Flags)
		if err := audit("recovered", detail)(tx); err != nil {
			return err
		}
		if flag != "crash" || !now.After(seal.End) {
			return nil
		}
		return s.putGap(tx, Gap{Camera: e.Camera, From: seal.End, To: now, Reason: "crash"})
	}, audit("removed-empty", "no whole frames"))
	if errors.Is(err, ErrEmpty) {
		a.Kind, a.Detail = "removed-empty", "no whole frames"
		return a, nil
	}
	if err != nil {
		return a, err
	}
	a.Kind, a.Detail = "recovered", detail
	return a, nil
}

// fileMissing turns a sealed entry whose file is gone into a disposal and a
// gap, and appends the audit entry of action a.
func (s *Store) fileMissing(ke keyed, a RecoveryAction) error {
	e := ke.e
	now := s.clock.Now().UTC().Round(0)
	d := disposalOf(e, now, "file-missing")
	return s.update("recover "+e.File, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSegments)
		var cur entry
		if found, err := getJSON(b, ke.key, &cur); err != nil || !found {
			return err
		}
		if cur.State != stateSealed || cur.File != e.File {
			return fmt.Errorf("entry changed to %s", cur.State)
		}
		if err := b.Delete(ke.key); err != nil {
			return err
		}
		if err := unindex(tx, ke.key, cur, true); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bktDisposals), ke.key, d); err != nil {
			return err
		}
		if err := s.auditHook(tx, s.recoveryEntry(a)); err != nil {
			return err
		}
		return s.putGap(tx, Gap{Camera: e.Camera, From: d.Start, To: d.End, Reason: "file-missing"})
	})
}

// diskFiles lists every non-directory under segments/, relative to data_dir,
// slash-separated, in lexical order.
func (s *Store) diskFiles() ([]string, error) {
	var out []string
	root := filepath.Join(s.dir, segmentsDir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list segment files: %w", err)
	}
	return out, nil
}

// recoverUnknown adopts, removes (if empty) or quarantines a file the index
// does not know.
func (s *Store) recoverUnknown(rel string, cams map[string]bool) (RecoveryAction, error) {
	p := s.abs(rel)
	camera, start, parsed := parseSegmentRel(rel)
	a := RecoveryAction{Camera: camera, Path: rel}
	fi, err := os.Lstat(p)
	if err != nil {
		return a, &SegmentError{Op: "recover", Path: p, Err: err}
	}
	if fi.Mode().IsRegular() && fi.Size() == 0 {
		if err := os.Remove(p); err != nil {
			return a, &SegmentError{Op: "recover", Path: p, Err: err}
		}
		if err := fsutil.SyncDir(filepath.Dir(p)); err != nil {
			return a, err
		}
		a.Kind, a.Detail = "removed-empty", "zero-byte file without an entry"
		return a, s.auditAfter(a)
	}
	reason := ""
	switch {
	case !fi.Mode().IsRegular():
		reason = "not a regular file"
	case !parsed:
		reason = "name does not follow the segment layout"
	case !cams[camera]:
		reason = "camera " + strconv.Quote(camera) + " is not configured"
	}
	if reason == "" {
		rec, err := s.adopt(rel, camera, start)
		if err == nil {
			a.Kind = "adopted"
			a.Detail = fmt.Sprintf("%d bytes, %d frames", rec.Seal.Bytes, rec.Seal.Frames)
			return a, nil
		}
		if !errors.Is(err, errNotFootage) {
			return a, err
		}
		reason = "no video frames found"
	}
	dst, err := s.quarantine(rel)
	if err != nil {
		return a, err
	}
	a.Kind, a.Path, a.Detail = "quarantined", dst, "from "+rel+": "+reason
	return a, s.auditAfter(a)
}

// auditAfter appends the audit entry of a recovery action that has no index
// transaction of its own (a file removed or moved), right after it. If this
// fails the action stands and the error says its entry is missing.
func (s *Store) auditAfter(a RecoveryAction) error {
	if _, err := s.Audit(s.recoveryEntry(a)); err != nil {
		return fmt.Errorf("%s %s (done, but not audited): %w", a.Kind, a.Path, err)
	}
	return nil
}

var errNotFootage = errors.New("not footage")

// adopt seals an intact, unknown segment file as found, without modifying it.
func (s *Store) adopt(rel, camera string, start time.Time) (SealRecord, error) {
	p := s.abs(rel)
	f, err := os.Open(p)
	if err != nil {
		return SealRecord{}, &SegmentError{Op: "adopt", Camera: camera, Path: p, Err: err}
	}
	defer f.Close() // read-only
	fi, err := f.Stat()
	if err != nil {
		return SealRecord{}, &SegmentError{Op: "adopt", Camera: camera, Path: p, Err: err}
	}
	res, err := tsscan.Scan(f, fi.Size())
	if err != nil {
		return SealRecord{}, &SegmentError{Op: "adopt", Camera: camera, Path: p, Err: err}
	}
	if res.Frames == 0 || res.VideoPID < 0 {
		return SealRecord{}, errNotFootage
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
		return SealRecord{}, &SegmentError{Op: "adopt", Camera: camera, Path: p, Err: err}
	}
	end, flags := scanEnd(start, res)
	if res.WholeBytes < fi.Size() {
		flags = append(flags, "torn-tail")
	}
	seal := Seal{
		Camera: camera, File: rel, Codec: res.Codec(), Start: start, End: end,
		Bytes: fi.Size(), Frames: res.Frames, SHA256: hex.EncodeToString(h.Sum(nil)),
		TimeSource: "filename", State: SealAdopted, Flags: flags,
	}
	a := RecoveryAction{Kind: "adopted", Camera: camera, Path: rel,
		Detail: fmt.Sprintf("%d bytes, %d frames", seal.Bytes, seal.Frames)}
	return s.commitSeal("adopt "+rel, nil, seal, func(tx *bolt.Tx) error {
		err := s.auditHook(tx, s.recoveryEntry(a))
		return err
	})
}

// quarantine moves rel to quarantine/<rel>, adding "_n" if that exists, and
// returns the new relative path. Both directories are fsynced.
func (s *Store) quarantine(rel string) (string, error) {
	for n := 0; n < maxNameTries; n++ {
		dst := path.Join(quarantineDir, rel)
		if n > 0 {
			dst += "_" + strconv.Itoa(n)
		}
		if _, err := os.Lstat(s.abs(dst)); err == nil {
			continue
		}
		dir := filepath.Dir(s.abs(dst))
		if err := fsutil.MkdirAll(dir, dirPerm); err != nil {
			return "", err
		}
		if err := os.Rename(s.abs(rel), s.abs(dst)); err != nil {
			return "", &SegmentError{Op: "quarantine", Path: s.abs(rel), Err: err}
		}
		if err := fsutil.SyncDir(dir); err != nil {
			return "", err
		}
		if err := fsutil.SyncDir(filepath.Dir(s.abs(rel))); err != nil {
			return "", err
		}
		return dst, nil
	}
	return "", fmt.Errorf("quarantine %s: too many copies", rel)
}
