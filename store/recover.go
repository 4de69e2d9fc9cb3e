package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// Recover finishes what a crash left undone; the recorder calls it before
// it records or reports ready, and nothing else may write the data
// directory meanwhile. Its cost grows with that work and with the newest
// day directories, not with the size of the index. Each step is
// idempotent, so a crash during Recover is handled by the next one.
//
// After it returns nil:
//
//   - no entry is open or disposing (bucket "pending" lists them):
//   - an open entry whose file exists: the file is truncated to its last
//     whole TS packet, scanned for frames and its PTS span (end = start +
//     span + one frame), hashed, and sealed "recovered" with flag "crash";
//     a gap "crash" from that end to now is recorded in the same
//     transaction. With no frames (or no file) the file and entry are
//     removed ("removed-empty").
//   - a disposing entry: the deletion is finished ("disposed").
//   - every file in the places a crash can leave one unknown has an entry:
//     each non-directory directly under segments/ or segments/<camera>/,
//     and every file in each camera's two newest day directories and in
//     any day directory at or after the day of the camera's newest entry
//     (all of them for a camera without entries). A file without an entry
//     there is treated as Reconcile treats one: a zero-byte file is
//     removed ("removed-empty"); a file whose name parses, whose camera is
//     in knownCameras and which holds frames is sealed "adopted" with time
//     source "filename" and is not modified; anything else is moved to
//     quarantine/ under its relative path. Footage is never deleted.
//
// Recover does not look at sealed entries or at older day directories:
// after a crash of the store's own procedures index and disk then agree,
// but a sealed file deleted, or a file put in an old day directory, behind
// the store's back is found only by Reconcile (and reported by Check).
func (s *Store) Recover(knownCameras []string) ([]RecoveryAction, error) {
	if s.ro {
		return nil, fmt.Errorf("recover: %w", ErrReadOnly)
	}
	if s.note == nil {
		return nil, fmt.Errorf("recover: %w", ErrNoSigner)
	}
	var pending []keyed
	if err := s.view("recover", func(tx *bolt.Tx) error {
		pb := tx.Bucket(bktPending)
		if pb == nil {
			return fmt.Errorf("index has no %s bucket", bktPending)
		}
		return pb.ForEach(func(k, _ []byte) error {
			e, found, err := getEntry(tx, k)
			if err != nil || !found {
				return err // a row without an entry is Check's to report
			}
			pending = append(pending, keyed{key: slices.Clone(k), e: e})
			return nil
		})
	}); err != nil {
		return nil, err
	}
	var acts []RecoveryAction
	act := func(a RecoveryAction) {
		s.log.Info("recovery", "action", a.Kind, "camera", a.Camera, "path", a.Path, "detail", a.Detail)
		acts = append(acts, a)
	}
	for _, ke := range pending {
		e := ke.e
		switch e.State {
		case stateOpen:
			a, err := s.recoverOpen(ke)
			if err != nil {
				return acts, err
			}
			act(a)
		case stateDisposing:
			a := RecoveryAction{Kind: "disposed", Camera: e.Camera, Path: e.File,
				Detail: "finished interrupted deletion: " + e.DisposeWhy}
			if err := s.finishDisposal("recover", ke.key, func(tx *bolt.Tx) ([]AuditEntry, error) {
				return []AuditEntry{s.recoveryEntry(a)}, nil
			}); err != nil {
				return acts, err
			}
			act(a)
		}
	}
	files, err := s.recentFiles()
	if err != nil {
		return acts, err
	}
	if files, err = s.withoutEntry(files); err != nil {
		return acts, err
	}
	err = s.recoverUnknownFiles(files, knownCameras, act)
	return acts, err
}

// withoutEntry returns the files of files that no entry names, read in one
// transaction (recoverUnknownFiles looks at each of them again, under
// createMu, before acting).
func (s *Store) withoutEntry(files []string) ([]string, error) {
	var out []string
	err := s.view("recover", func(tx *bolt.Tx) error {
		for _, rel := range files {
			known, err := fileKnown(tx, rel)
			if err != nil {
				return err
			}
			if !known {
				out = append(out, rel)
			}
		}
		return nil
	})
	return out, err
}

// Reconcile compares the whole index with the whole disk, as Check does,
// and repairs what it finds; the daemon runs it in the background after
// start-up, and it is safe while recording and deletion passes run. It
// reads every entry and lists every file under segments/, so it costs time
// in proportion to the footage stored. On top of Recover's guarantees,
// after it returns nil:
//
//   - every sealed entry's file exists: a sealed entry whose file is gone
//     becomes a Disposal with why "file-missing" (keeping its seal) and a
//     Gap "file-missing", in one transaction ("file-missing");
//   - every file under segments/ that existed when it started, and still
//     does, has an entry: unknown files, in any directory, are removed if
//     empty, adopted or quarantined as Recover does with those it looks at.
//
// Open and disposing entries are left alone: they are Recover's work at
// start-up, and while the store runs they belong to a segment being
// recorded or a deletion in progress.
func (s *Store) Reconcile(knownCameras []string) ([]RecoveryAction, error) {
	if s.ro {
		return nil, fmt.Errorf("reconcile: %w", ErrReadOnly)
	}
	if s.note == nil {
		return nil, fmt.Errorf("reconcile: %w", ErrNoSigner)
	}
	// Files first, then entries: a file created before the listing whose
	// entry committed before the entries are read is known.
	files, err := s.diskFiles()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	var sealed []keyed // key and file only
	if err := s.view("reconcile", func(tx *bolt.Tx) error {
		return segTableOf(tx).forEach(func(k, v []byte) error {
			e, err := entryStateFile(k, v)
			if err != nil {
				return err
			}
			known[e.File] = true
			if e.State == stateSealed {
				sealed = append(sealed, keyed{key: slices.Clone(k), e: entry{File: e.File}})
			}
			return nil
		})
	}); err != nil {
		return nil, err
	}
	var acts []RecoveryAction
	act := func(a RecoveryAction) {
		s.log.Info("recovery", "action", a.Kind, "camera", a.Camera, "path", a.Path, "detail", a.Detail)
		acts = append(acts, a)
	}
	for _, ke := range sealed {
		if _, err := os.Lstat(s.abs(ke.e.File)); err == nil || !errors.Is(err, fs.ErrNotExist) {
			continue // present (or unreadable: Check will say so)
		}
		a, done, err := s.fileMissing(ke.key, ke.e.File)
		if err != nil {
			return acts, err
		}
		if done {
			act(a)
		}
	}
	var unknown []string
	for _, rel := range files {
		if !known[rel] {
			unknown = append(unknown, rel)
		}
	}
	err = s.recoverUnknownFiles(unknown, knownCameras, act)
	return acts, err
}

// recoverUnknownFiles removes, adopts or quarantines each of files that
// still exists and still has no entry, judged while no CreateSegment is
// between creating a file and committing its entry.
func (s *Store) recoverUnknownFiles(files, knownCameras []string, act func(RecoveryAction)) error {
	cams := map[string]bool{}
	for _, c := range knownCameras {
		cams[c] = true
	}
	for _, rel := range files {
		a, ok, err := s.recoverIfUnknown(rel, cams)
		if err != nil {
			return err
		}
		if ok {
			act(a)
		}
	}
	return nil
}

func (s *Store) recoverIfUnknown(rel string, cams map[string]bool) (RecoveryAction, bool, error) {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if _, err := os.Lstat(s.abs(rel)); errors.Is(err, fs.ErrNotExist) {
		return RecoveryAction{}, false, nil // disposed or removed meanwhile
	}
	var known bool
	if err := s.view("recover "+rel, func(tx *bolt.Tx) error {
		var err error
		known, err = fileKnown(tx, rel)
		return err
	}); err != nil {
		return RecoveryAction{}, false, err
	}
	if known {
		return RecoveryAction{}, false, nil
	}
	a, err := s.recoverUnknown(rel, cams)
	return a, true, err
}

// fileKnown reports whether an entry names rel. The store names a file
// after its entry's camera and start (truncated to the millisecond), so
// only entries of that camera starting in that millisecond are read.
func fileKnown(tx *bolt.Tx, rel string) (bool, error) {
	camera, start, ok := parseSegmentRel(rel)
	if !ok {
		return false, nil
	}
	it := segTableOf(tx).iter(camera, startBytes(start), startBytes(start.Add(time.Millisecond)), false)
	for k, v := it.next(); k != nil; k, v = it.next() {
		e, err := entryStateFile(k, v)
		if err != nil {
			return false, err
		}
		if e.File == rel {
			return true, nil
		}
	}
	return false, nil
}

// fileKeyPrefix starts an entry's "file" field. encoding/json writes the
// fields of entry in their order, so the first occurrence in an entry's
// JSON is its own (a seal's comes later), and inside a string every quote
// is escaped, so the sequence cannot occur there.
var fileKeyPrefix = []byte(`"file":"`)

// entryStateFile returns the State and File of the entry v at k without
// decoding all of it (the seal record is most of an entry).
func entryStateFile(k, v []byte) (entry, error) {
	if len(v) > 2 && compactEntryTag(v) {
		camera, start, ok := keyStart(k)
		n, w := binary.Uvarint(v[2:])
		if !ok || int(v[1]) >= len(entryStates) || w <= 0 {
			return entry{}, fmt.Errorf("decode %q: malformed compact entry", k)
		}
		return entry{State: entryStates[v[1]], File: segmentRel(camera, start, int(n))}, nil
	}
	if i := bytes.Index(v, fileKeyPrefix); i >= 0 && bytes.HasPrefix(v, []byte(`{"state":"`)) {
		rest := v[i+len(fileKeyPrefix):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
			var e entry
			st := v[len(`{"state":"`):]
			if q := bytes.IndexByte(st, '"'); q >= 0 {
				e.State = string(st[:q])
				e.File = string(rest[:j])
				return e, nil
			}
		}
	}
	var e entry
	if err := json.Unmarshal(v, &e); err != nil {
		return entry{}, fmt.Errorf("decode %q: %w", k, err)
	}
	return entry{State: e.State, File: e.File}, nil
}

// recentFiles lists, relative to data_dir and slash-separated, the files
// Recover looks at for crash orphans (see Recover): every non-directory
// directly under segments/ or segments/<camera>/, and every file under the
// camera's newest day directories. A file created with O_EXCL whose open
// entry did not commit, or the file of an open entry, is named after the
// segment's start, which is at or after the start of the camera's newest
// entry unless the clock stepped back, and the start is recent.
func (s *Store) recentFiles() ([]string, error) {
	root := filepath.Join(s.dir, segmentsDir)
	cams, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list segment files: %w", err)
	}
	newest := map[string]time.Time{} // camera → start of its newest entry
	var names []string
	for _, c := range cams {
		if c.IsDir() {
			names = append(names, c.Name())
		}
	}
	if err := s.view("recover", func(tx *bolt.Tx) error {
		newest = segTableOf(tx).newest(names)
		return nil
	}); err != nil {
		return nil, err
	}
	var out []string
	var dirs []string
	for _, c := range cams {
		rel := path.Join(segmentsDir, c.Name())
		if !c.IsDir() {
			out = append(out, rel)
			continue
		}
		ents, err := os.ReadDir(s.abs(rel))
		if err != nil {
			return nil, fmt.Errorf("list segment files: %w", err)
		}
		var days []string
		for _, d := range ents {
			switch _, perr := time.Parse(time.DateOnly, d.Name()); {
			case !d.IsDir():
				out = append(out, path.Join(rel, d.Name()))
			case perr == nil:
				days = append(days, d.Name()) // in lexical = date order
			}
		}
		from := ""
		if t, ok := newest[c.Name()]; ok {
			from = t.Format(time.DateOnly)
			if len(days) > 2 {
				from = min(from, days[len(days)-2])
			}
		}
		for _, d := range days {
			if d >= from {
				dirs = append(dirs, path.Join(rel, d))
			}
		}
	}
	for _, d := range dirs {
		err := filepath.WalkDir(s.abs(d), func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if de.IsDir() {
				return nil
			}
			r, err := filepath.Rel(s.dir, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(r))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list segment files: %w", err)
		}
	}
	return out, nil
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

// fileMissing turns the sealed entry at k, whose file rel is gone, into a
// disposal and a gap, with the audit entry of the action it returns. If the
// entry is no longer sealed for rel (a deletion started meanwhile), it
// changes nothing and returns false.
func (s *Store) fileMissing(k []byte, rel string) (RecoveryAction, bool, error) {
	now := s.disposalTime()
	var a RecoveryAction
	done := false
	err := s.update("recover "+rel, func(tx *bolt.Tx) error {
		done = false
		b := segTableOf(tx)
		cur, found, err := getEntry(tx, k)
		if err != nil || !found {
			return err
		}
		if cur.State != stateSealed || cur.File != rel {
			return nil
		}
		a = RecoveryAction{Kind: "file-missing", Camera: cur.Camera, Path: rel,
			Detail: "recorded a file-missing gap and disposal"}
		d := disposalOf(cur, now, "file-missing")
		if err := s.restoreSigned(tx, k); err != nil {
			return err
		}
		if err := b.delete(k); err != nil {
			return err
		}
		if err := unindex(tx, k, cur, true); err != nil {
			return err
		}
		if err := putDisposal(tx, k, d); err != nil {
			return err
		}
		if err := s.auditHook(tx, s.recoveryEntry(a)); err != nil {
			return err
		}
		done = true
		return s.putGap(tx, Gap{Camera: cur.Camera, From: d.Start, To: d.End, Reason: "file-missing"})
	})
	return a, done && err == nil, err
}

// diskFiles lists every non-directory under segments/, relative to data_dir,
// slash-separated, in lexical order.
func (s *Store) diskFiles() ([]string, error) { return s.filesUnder(segmentsDir) }

// filesUnder lists every non-directory under dir (relative to data_dir,
// slash-separated), relative to data_dir, depth first in lexical order: dir
// itself if it is no directory, nothing if it does not exist. Symbolic
// links are listed, not followed.
func (s *Store) filesUnder(dir string) ([]string, error) {
	root := filepath.Join(s.dir, filepath.FromSlash(dir))
	switch fi, err := os.Lstat(root); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("list segment files: %w", err)
	case !fi.IsDir():
		return []string{dir}, nil
	}
	var out []string
	if err := appendFilesUnder(&out, root, dir); err != nil {
		return nil, fmt.Errorf("list segment files: %w", err)
	}
	return out, nil
}

// appendFilesUnder appends to out what filesUnder lists of the directory
// abs, whose path relative to data_dir is rel. It joins each name once (a
// check lists millions), where filepath.WalkDir and filepath.Rel would
// build and clean each path twice.
func appendFilesUnder(out *[]string, abs, rel string) error {
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	ents, err := f.ReadDir(-1)
	f.Close() // read-only
	if err != nil {
		return err
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range ents {
		if e.IsDir() {
			if err := appendFilesUnder(out, abs+string(filepath.Separator)+e.Name(), rel+"/"+e.Name()); err != nil {
				return err
			}
			continue
		}
		*out = append(*out, rel+"/"+e.Name())
	}
	return nil
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
	return s.commitSeal("adopt "+rel, nil, seal, nil, func(tx *bolt.Tx) error {
		err := s.auditHook(tx, s.recoveryEntry(a))
		return err
	}, false)
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
