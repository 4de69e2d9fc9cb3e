package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/tsscan"
	bolt "go.etcd.io/bbolt"
)

// maxNameTries bounds the "_n" suffixes tried when a segment name exists.
const maxNameTries = 1000

// SegmentWriter writes one segment file. It is used by one goroutine at a
// time, except that Sync may run on another goroutine beside Write (the
// recorder fsyncs off its write path): nothing else may run concurrently.
type SegmentWriter struct {
	s      *Store
	f      *os.File
	key    []byte
	camera string
	start  time.Time
	codec  string
	rel    string
	path   string
	h      hash.Hash
	n      int64

	mu   sync.Mutex // err and done: Sync may run beside Write
	err  error      // first write or sync error; the file is not trusted after it
	done bool
}

// CreateSegment creates the file for a new segment of camera starting at
// start and records it as open in the index. The name comes from the layout;
// the day directory is created (and its parents fsynced) if needed. The file
// is created with O_EXCL and never overwrites: if the name exists (the clock
// stepped back), "_1", "_2", … is added before ".ts". On success the file's
// name is durable and the index holds an open entry for it, so a crash from
// here on is recovered by Recover. On error nothing is left behind.
func (s *Store) CreateSegment(camera string, start time.Time, codec string) (*SegmentWriter, error) {
	if err := ValidCamera(camera); err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if s.ro {
		return nil, fmt.Errorf("create segment: %w", ErrReadOnly)
	}
	start = start.UTC().Round(0)
	// Reconcile does not judge a file unknown between its creation and
	// the commit of its open entry.
	s.createMu.RLock()
	defer s.createMu.RUnlock()
	dayDir := s.abs(segmentRel(camera, start, 0))
	dayDir = filepath.Dir(dayDir)
	if err := fsutil.MkdirAll(dayDir, dirPerm); err != nil {
		return nil, &SegmentError{Op: "create", Camera: camera, Path: dayDir, Err: err}
	}
	var (
		f   *os.File
		rel string
		err error
	)
	for n := 0; n < maxNameTries; n++ {
		rel = segmentRel(camera, start, n)
		f, err = fsutil.CreateExclusive(s.abs(rel), filePerm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, &SegmentError{Op: "create", Camera: camera, Path: s.abs(rel), Err: err}
	}
	w := &SegmentWriter{s: s, f: f, camera: camera, start: start, codec: codec,
		rel: rel, path: s.abs(rel), h: sha256.New()}
	// Batched with other cameras' commits; fn only writes tx and w.key,
	// which a later run overwrites.
	err = s.batch("create segment "+rel, func(tx *bolt.Tx) error {
		k, err := freeKey(tx, camera, start)
		if err != nil {
			return err
		}
		w.key = k
		e := entry{State: stateOpen, Camera: camera, Start: start, File: rel, Codec: codec,
			Created: s.clock.Now().UTC().Round(0)}
		if err := putEntry(tx, k, e); err != nil {
			return err
		}
		if err := setPending(tx, k, true); err != nil {
			return err
		}
		return touchCamera(tx, camera, 0, 0)
	})
	if err != nil {
		// The file is empty and unknown to the index: remove it.
		_ = f.Close()
		if rerr := os.Remove(w.path); rerr == nil {
			_ = fsutil.SyncDir(dayDir) // if this fails Recover removes the empty file
		}
		return nil, err
	}
	s.entryAdded(start)
	return w, nil
}

// Path returns the absolute path of the segment file.
func (w *SegmentWriter) Path() string { return w.path }

// Bytes returns the number of bytes written so far.
func (w *SegmentWriter) Bytes() int64 { return w.n }

// Write appends p to the file and to the running SHA-256. After an error,
// every later Write and Sync fails with it: call Salvage (or Seal, which
// salvages).
func (w *SegmentWriter) Write(p []byte) (int, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, w.poison("write", err)
	}
	return n, nil
}

// usable returns ErrFinished once the segment is finished, else the first
// write or sync error, if any.
func (w *SegmentWriter) usable() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return ErrFinished
	}
	return w.err
}

// poison records the first write or sync error and returns it.
func (w *SegmentWriter) poison(op string, err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = &SegmentError{Op: op, Camera: w.camera, Path: w.path, Err: err}
	}
	return w.err
}

// finish marks the segment finished and returns the first write or sync
// error, if any.
func (w *SegmentWriter) finish() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	return w.err
}

// Err returns the first write or sync error, if any: it tells a failure of
// the storage from one of the data written.
func (w *SegmentWriter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Sync fsyncs the file. It may run on another goroutine beside Write (the
// bytes written meanwhile may or may not be covered: Seal fsyncs again
// before it commits). A failed Sync is never retried: the writer is
// poisoned, every later Write fails, and the segment must be salvaged.
func (w *SegmentWriter) Sync() error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return w.poison("sync", err)
	}
	return nil
}

// Seal finishes the segment: fsync the file, close it, fsync its directory,
// then in one transaction replace the open entry with the sealed entry and its
// signed seal, chained to the camera's previous seal. A segment with no bytes
// or no frames is removed instead and ErrEmpty returned. If a write or sync
// already failed, or fails now, Seal salvages instead (see Salvage).
//
// If the index transaction fails, the file is complete on disk and the open
// entry remains; the next Recover seals it as recovered.
func (w *SegmentWriter) Seal(info SealInfo) (rec SealRecord, err error) {
	if errors.Is(w.usable(), ErrFinished) {
		return SealRecord{}, ErrFinished
	}
	defer func() { w.abandonOnError(err) }()
	if err := w.Err(); err != nil {
		return w.Salvage(err)
	}
	if err := w.f.Sync(); err != nil {
		return w.Salvage(err)
	}
	if err := w.f.Close(); err != nil {
		w.f = nil
		return w.Salvage(err)
	}
	w.f = nil
	if err := fsutil.SyncDir(filepath.Dir(w.path)); err != nil {
		return w.Salvage(err)
	}
	w.finish()
	if w.n == 0 || info.Frames <= 0 {
		if err := w.s.removeOpen(w.key, w.rel, nil); err != nil {
			return SealRecord{}, err
		}
		return SealRecord{}, fmt.Errorf("seal %s: %w", w.rel, ErrEmpty)
	}
	seal := Seal{
		Camera: w.camera, File: w.rel, Codec: w.codec,
		Start: w.start, End: info.End,
		Bytes: w.n, Frames: info.Frames, SHA256: hex.EncodeToString(w.h.Sum(nil)),
		TimeSource: info.TimeSource, ClockOffsetMS: info.ClockOffset.Milliseconds(),
		CameraClock: info.CameraClock, LostPackets: info.LostPackets, DroppedFrames: info.DroppedFrames,
		LeadingFrames: info.LeadingFrames,
		State:         SealSealed, Flags: append([]string(nil), info.Flags...),
	}
	return w.s.commitSeal("seal "+w.rel, w.key, seal, info.Activity, nil, true)
}

// Salvage finishes a segment after a write or sync error: it closes the file,
// truncates it to its last provably whole frame, hashes what remains by reading it
// back, and seals it as "recovered" with the flag "salvaged:<cause>" (e.g.
// "salvaged:ENOSPC"). If nothing usable remains, the file and its open entry
// are removed and ErrEmpty returned. The failed fsync is never retried on the
// old descriptor.
func (w *SegmentWriter) Salvage(cause error) (rec SealRecord, err error) {
	if errors.Is(w.usable(), ErrFinished) {
		return SealRecord{}, ErrFinished
	}
	defer func() { w.abandonOnError(err) }()
	w.finish()
	if w.f != nil {
		_ = w.f.Close() // the file is re-read from disk below; its close error adds nothing
		w.f = nil
	}
	e := entry{Camera: w.camera, Start: w.start, File: w.rel, Codec: w.codec}
	rec, err = w.s.recoverFile(w.key, e, []string{"salvaged:" + causeName(cause)}, nil, nil)
	if err != nil {
		return SealRecord{}, fmt.Errorf("salvage after %v: %w", cause, err)
	}
	return rec, nil
}

// recoverFile makes a sealed "recovered" segment out of the file of open
// entry e at key: truncate to whole packets, scan, hash, seal. With no frames
// it removes the file and the entry and returns ErrEmpty. extra runs in the
// seal transaction, empty in the transaction that removes the entry.
func (s *Store) recoverFile(key []byte, e entry, flags []string, extra func(*bolt.Tx, Seal) error, empty func(*bolt.Tx) error) (SealRecord, error) {
	path := s.abs(e.File)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return SealRecord{}, &SegmentError{Op: "recover", Camera: e.Camera, Path: path, Err: err}
	}
	res, size, sum, err := scanTruncateHash(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return SealRecord{}, &SegmentError{Op: "recover", Camera: e.Camera, Path: path, Err: err}
	}
	if res.Frames == 0 {
		if err := s.removeOpen(key, e.File, empty); err != nil {
			return SealRecord{}, err
		}
		return SealRecord{}, fmt.Errorf("recover %s: %w", e.File, ErrEmpty)
	}
	if res.WholeBytes < size {
		flags = append(flags, "truncated")
	}
	end, endFlags := scanEnd(e.Start, res)
	seal := Seal{
		Camera: e.Camera, File: e.File, Codec: e.Codec, Start: e.Start, End: end,
		Bytes: res.WholeBytes, Frames: res.Frames, SHA256: sum,
		TimeSource: "pts", State: SealRecovered, Flags: append(flags, endFlags...),
	}
	if seal.Codec == "" {
		seal.Codec = res.Codec()
	}
	var fn func(*bolt.Tx) error
	if extra != nil {
		fn = func(tx *bolt.Tx) error { return extra(tx, seal) }
	}
	return s.commitSeal("recover "+e.File, key, seal, nil, fn, false)
}

// scanTruncateHash truncates f to its provably whole frames (the last frame
// of an unfinished file may be torn: see tsscan.ScanWholeFrames), fsyncing if
// it cut anything, and returns the scan, the original size and the hex SHA-256 of
// what remains, read back from the file.
func scanTruncateHash(f *os.File) (tsscan.Result, int64, string, error) {
	fi, err := f.Stat()
	if err != nil {
		return tsscan.Result{}, 0, "", err
	}
	size := fi.Size()
	res, err := tsscan.ScanWholeFrames(f, size)
	if err != nil {
		return res, size, "", err
	}
	if res.WholeBytes < size {
		if err := f.Truncate(res.WholeBytes); err != nil {
			return res, size, "", err
		}
		if err := f.Sync(); err != nil {
			return res, size, "", err
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, res.WholeBytes)); err != nil {
		return res, size, "", err
	}
	return res, size, hex.EncodeToString(h.Sum(nil)), nil
}

// scanEnd estimates a segment's end from its start and its PTS span plus one
// frame.
func scanEnd(start time.Time, res tsscan.Result) (time.Time, []string) {
	if !res.HasPTS {
		return start, []string{"no-pts"}
	}
	span := res.LastPTS - res.FirstPTS + res.FrameDuration()
	return start.Add(time.Duration(span * 100000 / 9)), nil // 90 kHz → ns
}

// removeOpen removes an unusable segment file, then its open entry; extra,
// if not nil, runs in that transaction.
func (s *Store) removeOpen(key []byte, rel string, extra func(*bolt.Tx) error) error {
	path := s.abs(rel)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &SegmentError{Op: "remove", Path: path, Err: err}
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		return err
	}
	return s.update("remove "+rel, func(tx *bolt.Tx) error {
		b := segTableOf(tx)
		e, found, err := getEntry(tx, key)
		if err != nil || !found {
			return err
		}
		if e.State != stateOpen || e.File != rel {
			return fmt.Errorf("entry is %s for %s", e.State, e.File)
		}
		if err := b.delete(key); err != nil {
			return err
		}
		if err := setPending(tx, key, false); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
}

// abandonOnError remembers the segment when sealing or salvaging it failed
// (on a full disk the index can refuse the seal too): its open entry stays in
// the index, and SalvageAbandoned seals it once there is room again, without
// waiting for the next start-up's Recover.
func (w *SegmentWriter) abandonOnError(err error) {
	if err == nil || errors.Is(err, ErrEmpty) || errors.Is(err, ErrFinished) {
		return
	}
	w.s.abandonedMu.Lock()
	defer w.s.abandonedMu.Unlock()
	if w.s.abandoned == nil {
		w.s.abandoned = map[string]keyed{}
	}
	w.s.abandoned[string(w.key)] = keyed{key: w.key, e: entry{
		State: stateOpen, Camera: w.camera, Start: w.start, File: w.rel, Codec: w.codec,
	}}
}

// SalvageAbandoned seals, as recovered, the segments of camera whose writer
// gave up after a failed seal or salvage, truncating each to its last whole
// packet. The recorder calls it before each new session, so they are sealed
// as soon as the disk has room again. Segments that are still being written
// are never touched. Entries that are no longer open are forgotten.
func (s *Store) SalvageAbandoned(camera string) ([]RecoveryAction, error) {
	s.abandonedMu.Lock()
	var todo []keyed
	for k, ke := range s.abandoned {
		if ke.e.Camera == camera {
			todo = append(todo, ke)
			delete(s.abandoned, k)
		}
	}
	s.abandonedMu.Unlock()

	var acts []RecoveryAction
	for i, ke := range todo {
		var cur entry
		var found bool
		if err := s.view("salvage "+ke.e.File, func(tx *bolt.Tx) error {
			var err error
			cur, found, err = getEntry(tx, ke.key)
			return err
		}); err != nil {
			s.requeue(todo[i:])
			return acts, err
		}
		if !found || cur.State != stateOpen || cur.File != ke.e.File {
			continue
		}
		a, err := s.recoverOpenAs(keyed{key: ke.key, e: cur}, "salvaged")
		if err != nil {
			s.requeue(todo[i:])
			return acts, err
		}
		acts = append(acts, a)
	}
	return acts, nil
}

func (s *Store) requeue(kes []keyed) {
	s.abandonedMu.Lock()
	defer s.abandonedMu.Unlock()
	for _, ke := range kes {
		s.abandoned[string(ke.key)] = ke
	}
}
