package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/council/cctv/internal/fsutil"
)

// The reserve is a file of really allocated blocks, data_dir/.reserve, that
// holds back room for deleting on a full disk (as pebble's ballast does):
// deleting footage must commit to the index first, and a bbolt commit
// that marks a batch of segments disposing needs new pages, so on a disk
// filled to the last block disk pressure could not delete and recording
// stopped for good ("write index.db: no space left on device", seen in the
// VM rig). When a disk-pressure batch fails for want of space the store
// removes the reserve and tries again (in smaller batches if need be); the
// release is audited ("reserve.release") and shown by Reserve, and
// EnsureReserve makes it again once the deletions have made room
// ("reserve.restore").
const reserveName = ".reserve"

// ReserveSize is the size of the reserve on a file system of total bytes:
// 1/128 of it, at least 128 KiB and at most 8 MiB (2048 index pages, more
// than a 1000-segment deletion batch dirties).
func ReserveSize(total uint64) int64 {
	return min(max(int64(total/128), 128<<10), 8<<20)
}

// ReserveState is the reserve as Reserve reports it.
type ReserveState struct {
	Held        bool      // the file is there
	Bytes       int64     // its size, when held
	ReleasedAt  time.Time // when this process last released it; zero if never
	ReleasedFor string    // what the release made room for ("disk pressure")
}

// testOnlyNoFullDiskRetry makes deleteOnFullDisk give up at the first
// failure (SetFullDiskRetryForTest).
var testOnlyNoFullDiskRetry bool

// reserve is the Store's record of its reserve.
type reserve struct {
	mu          sync.Mutex
	releasedAt  time.Time
	releasedFor string
}

func (s *Store) reservePath() string { return filepath.Join(s.dir, reserveName) }

// Reserve reports whether the reserve is held and when it was last released.
func (s *Store) Reserve() ReserveState {
	s.res.mu.Lock()
	defer s.res.mu.Unlock()
	st := ReserveState{ReleasedAt: s.res.releasedAt, ReleasedFor: s.res.releasedFor}
	if fi, err := os.Stat(s.reservePath()); err == nil {
		st.Held, st.Bytes = true, fi.Size()
	}
	return st
}

// createReserve makes the reserve for Init, on a new data directory: there
// is nothing to audit yet. A disk too full for it is no error (EnsureReserve
// makes it later).
func createReserve(dataDir string) error {
	_, total, err := fsutil.FreeSpace(dataDir)
	if err != nil {
		return err
	}
	err = fsutil.Preallocate(filepath.Join(dataDir, reserveName), ReserveSize(total), filePerm)
	if err == nil || errors.Is(err, fs.ErrExist) || fsutil.IsNoSpace(err) {
		return nil
	}
	return err
}

// EnsureReserve makes the reserve if it is missing and the disk has room
// for it with keepFree bytes still free afterwards (the daemon passes
// min_free, so making it never causes disk pressure). It reports whether
// it made it; making it is audited "reserve.restore" after a release
// (params bytes, released, for), else "reserve.create". A read-only store
// does nothing.
func (s *Store) EnsureReserve(keepFree uint64) (bool, error) {
	if s.ro {
		return false, nil
	}
	s.res.mu.Lock()
	defer s.res.mu.Unlock()
	if _, err := os.Stat(s.reservePath()); err == nil {
		return false, nil
	}
	free, total, err := fsutil.FreeSpace(s.dir)
	if err != nil {
		return false, fmt.Errorf("reserve: %w", err)
	}
	size := ReserveSize(total)
	if free < uint64(size)+keepFree {
		return false, nil // not yet: disk pressure deletes first
	}
	if err := fsutil.Preallocate(s.reservePath(), size, filePerm); err != nil {
		if fsutil.IsNoSpace(err) || errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("reserve: %w", err)
	}
	action := "reserve.restore"
	if s.res.releasedAt.IsZero() {
		action = "reserve.create" // missing since Open (a full disk then), not released by us
	}
	e := s.auditAction(action, "bytes", strconv.FormatInt(size, 10),
		"released", fmtTime(s.res.releasedAt), "for", s.res.releasedFor)
	s.res.releasedAt, s.res.releasedFor = time.Time{}, ""
	if _, err := s.Audit(e); err != nil {
		return true, fmt.Errorf("reserve: made again, but not audited: %w", err)
	}
	s.log.Info("the data disk's reserve is made again", "bytes", size)
	return true, nil
}

// releaseReserve removes the reserve to make room for op; it reports the
// bytes freed (0: there was none).
func (s *Store) releaseReserve(op string) int64 {
	s.res.mu.Lock()
	defer s.res.mu.Unlock()
	fi, err := os.Stat(s.reservePath())
	if err != nil {
		return 0
	}
	if err := os.Remove(s.reservePath()); err != nil {
		s.log.Error("release the data disk's reserve", "err", err)
		return 0
	}
	_ = fsutil.SyncDir(s.dir) // the blocks are free now; durability of the removal does not matter
	s.res.releasedAt, s.res.releasedFor = s.clock.Now().UTC().Round(0), op
	return fi.Size()
}

// deleteOnFullDisk runs dispose(keys); if that fails because the disk is
// full, it releases the reserve and tries again, then with ever smaller
// leading parts of keys down to one segment, so that deletion on a full
// disk frees what it can. The release is audited once a deletion has
// committed (and so made room for the entry).
func (s *Store) deleteOnFullDisk(op string, keys [][]byte, dispose func([][]byte) ([]Disposal, error)) ([]Disposal, error) {
	ds, err := dispose(keys)
	if !fsutil.IsNoSpace(err) || testOnlyNoFullDiskRetry {
		return ds, err
	}
	freed := s.releaseReserve(op)
	if freed == 0 && len(keys) == 1 {
		return ds, err
	}
	n := len(keys)
	if freed == 0 {
		n = (n + 1) / 2
	}
	for {
		ds, err = dispose(keys[:n])
		if !fsutil.IsNoSpace(err) || n == 1 {
			break
		}
		n = (n + 1) / 2
	}
	if freed > 0 {
		s.log.Warn("ALERT: the data disk was full: released its reserve so that "+op+" could delete", "reserve_bytes", freed, "deleted", len(ds), "err", err)
		e := s.auditAction("reserve.release", "for", op, "bytes", strconv.FormatInt(freed, 10), "deleted", strconv.Itoa(len(ds)))
		if err != nil {
			e.Result = "error: " + err.Error()
		}
		if _, aerr := s.Audit(e); aerr != nil {
			s.log.Error("audit the release of the data disk's reserve", "err", aerr)
		}
	}
	return ds, err
}
