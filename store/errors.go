package store

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/council/cctv/internal/fsutil"
)

// Sentinel errors callers branch on.
var (
	// ErrNoMarker: data_dir has no .cctv-data marker, typically because the
	// data disk is not mounted. Nothing was created.
	ErrNoMarker = errors.New("data directory has no cctv marker")
	// ErrForeignDir: Init was pointed at a non-empty directory that is not a
	// cctv data directory.
	ErrForeignDir = errors.New("directory is not empty and is not a cctv data directory")
	// ErrWrongBox: the data directory belongs to another box.
	ErrWrongBox = errors.New("data directory belongs to another box")
	// ErrNoIndex: the marker is present but index.db is missing.
	ErrNoIndex = errors.New("index missing")
	// ErrLocked: another process (normally the running recorder) holds the index.
	ErrLocked = errors.New("index is locked by another process")
	// ErrSchema: the index or marker has a format this software does not know.
	ErrSchema = errors.New("unsupported index schema")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrReadOnly: a write was attempted on a store opened read-only.
	ErrReadOnly = errors.New("store opened read-only")
	// ErrEmpty: a segment had no usable footage and was removed instead of sealed.
	ErrEmpty = errors.New("segment empty")
	// ErrFinished: the segment writer was already sealed or salvaged.
	ErrFinished = errors.New("segment already finished")
	// ErrNotFound: no such segment, or no such hold.
	ErrNotFound = errors.New("not found")
	// ErrOpen: the segment is still being recorded.
	ErrOpen = errors.New("segment still open")
	// ErrNoSigner: an audited change was attempted on a store opened without
	// a note signer (Options.NoteSigner). Nothing was changed.
	ErrNoSigner = errors.New("no audit signer configured")
	// ErrAuditCorrupt: the audit log no longer matches its signed head (it
	// was edited outside the store, or the box key changed), so the store
	// refuses to append to it, and with it the change to be audited. Run
	// VerifyAudit ("cctv audit verify") to see what is wrong.
	ErrAuditCorrupt = errors.New("audit log does not match its signed head")
	// ErrHeld: the footage overlaps a legal hold in force and is never deleted.
	ErrHeld = errors.New("footage is under a legal hold")
	// ErrInvalidHold: a hold to add is malformed (window, camera, case or reason).
	ErrInvalidHold = errors.New("invalid hold")
	// ErrNoReason: releasing a hold needs a reason.
	ErrNoReason = errors.New("a reason is required")
	// ErrSamePerson: a hold must be released by a supervisor other than the
	// one who placed it (two-person rule).
	ErrSamePerson = errors.New("a hold must be released by someone other than who placed it")
	// ErrReleased: the hold was already released.
	ErrReleased = errors.New("hold already released")
	// ErrDeletionPaused: retention and disk-pressure deletion are paused
	// until the box time is confirmed (ConfirmTime). Nothing was deleted.
	ErrDeletionPaused = errors.New("deletion paused until the time is confirmed")
)

// SegmentError is a file-system error on a segment file.
type SegmentError struct {
	Op, Camera, Path string
	Err              error
}

func (e *SegmentError) Error() string {
	// The path is named here once: an *fs.PathError underneath says only
	// what went wrong.
	cause := e.Err
	var pe *fs.PathError
	if errors.As(cause, &pe) && pe.Path == e.Path {
		cause = pe.Err
	}
	return fmt.Sprintf("%s segment %s: %v", e.Op, e.Path, cause)
}

func (e *SegmentError) Unwrap() error { return e.Err }

// NoSpace reports whether the error means the disk is full.
func (e *SegmentError) NoSpace() bool { return fsutil.IsNoSpace(e.Err) }

// causeName is a short, stable name for a write failure, used in seal flags.
func causeName(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "unknown"
	case errors.Is(err, syscall.ENOSPC):
		return "ENOSPC"
	case errors.Is(err, syscall.EDQUOT):
		return "EDQUOT"
	case errors.Is(err, syscall.EIO):
		return "EIO"
	case errors.Is(err, syscall.EROFS):
		return "EROFS"
	case errors.As(err, &errno):
		return fmt.Sprintf("errno-%d", int(errno))
	}
	return "other"
}
