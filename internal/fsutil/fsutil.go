// Package fsutil is the one home of cctv's durability primitives: fsync of
// files, directories and trees, exclusive creation, writing a new file that
// never replaces another, atomic replacement, publishing a finished directory
// by rename, disk-full classification and free-space queries. Code elsewhere
// calls these rather than writing its own fsync sequences.
//
// Every function that creates or renames an entry fsyncs the directory that
// holds it before returning, so on success the new name survives a power cut.
// On error nothing is promised about durability; callers must not retry an
// fsync and trust the result (a failed fsync may have dropped dirty pages).
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// SyncDir fsyncs the directory dir, making the creation, removal or rename of
// entries in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return fmt.Errorf("sync dir %s: %w", dir, serr)
	}
	if cerr != nil {
		return fmt.Errorf("sync dir %s: close: %w", dir, cerr)
	}
	return nil
}

// SyncFS commits the whole filesystem that holds path (syncfs(2)): every
// entry change and every dirty page on it is durable when it returns nil.
// One call stands for the SyncDir of many directories.
func SyncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync filesystem: %w", err)
	}
	defer f.Close() // read-only
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync filesystem of %s: %w", path, err)
	}
	return nil
}

// CreateExclusive creates path for writing, failing with an error satisfying
// errors.Is(err, fs.ErrExist) if it already exists; it never truncates or
// overwrites. The parent directory is fsynced before returning, so the new
// (empty) file's name is durable on success. On a directory-sync error the
// file is closed and removed.
func CreateExclusive(path string, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return nil, err
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		// The file is empty and was never handed out: removing it is safe.
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return f, nil
}

// AtomicWriteFile replaces path with data so that a crash leaves either the
// old content or the new, never a mix: it writes a temporary file in the same
// directory, fsyncs and closes it, renames it over path and fsyncs the
// directory. On error the temporary file is removed.
func AtomicWriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp) // best effort: the temp name is ours alone
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		_ = f.Close()
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// MkdirAll creates dir and any missing parents with perm, fsyncing the parent
// of every directory it creates, so that on success the whole path is
// durable. It does nothing to directories that already exist.
func MkdirAll(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil // raced with another creator, which synced it
		}
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return SyncDir(parent)
}

// IsNoSpace reports whether err means the file system (or the user's quota)
// is full: ENOSPC or EDQUOT anywhere in its chain.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// FreeSpace returns the bytes available to an unprivileged user and the total
// size of the file system holding dir.
func FreeSpace(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	return st.Bavail * bs, st.Blocks * bs, nil
}

// SyncTree fsyncs every file and directory under dir (dir included), so a
// tree written with plain writes is durable once it returns nil.
func SyncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		serr := f.Sync()
		cerr := f.Close()
		if serr != nil {
			return fmt.Errorf("sync %s: %w", p, serr)
		}
		if cerr != nil {
			return fmt.Errorf("sync %s: close: %w", p, cerr)
		}
		return nil
	})
}

// CommitNew finishes a file written to the temporary file tmp: it fsyncs and
// closes tmp, gives it the name dst without ever replacing an existing entry
// (an existing dst is an error satisfying errors.Is(err, fs.ErrExist)),
// removes the temporary name and fsyncs the directory. tmp must be in dst's
// directory. tmp is closed and its name removed whatever happens.
func CommitNew(tmp *os.File, dst string) error {
	defer os.Remove(tmp.Name()) // gone after the link; else our own leftovers
	err := tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("commit %s: %w", dst, err)
	}
	if err := os.Link(tmp.Name(), dst); err != nil { // fails if dst exists
		return fmt.Errorf("commit %s: %w", dst, err)
	}
	return SyncDir(filepath.Dir(dst))
}

// WriteNew writes data to a new file at path, durably, under a temporary
// name first: path appears complete or not at all, and an existing path is
// never replaced (errors.Is(err, fs.ErrExist)).
func WriteNew(path string, data []byte, perm os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("write %s: %w", path, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".partial-*"+filepath.Ext(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return CommitNew(tmp, path)
}

// PublishDir renames the finished directory tmp to dst after fsyncing
// everything in it, never replacing an existing dst (errors.Is(err,
// fs.ErrExist)), and fsyncs dst's parent. tmp and dst must be on the same
// file system. On error tmp is left as it is for the caller to remove.
func PublishDir(tmp, dst string) error {
	if err := SyncTree(tmp); err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("publish %s: %w", dst, fs.ErrExist)
		}
		return fmt.Errorf("publish %s: %w", dst, err)
	}
	return SyncDir(filepath.Dir(dst))
}

// Preallocate creates a new file at path holding size bytes of really
// allocated blocks (fallocate, or zeros written where the file system has no
// fallocate), durably and under a temporary name first, never replacing an
// existing path (errors.Is(err, fs.ErrExist)). On a full disk it fails with
// an error IsNoSpace recognises and leaves nothing behind.
func Preallocate(path string, size int64, perm os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("preallocate %s: %w", path, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".partial-*"+filepath.Ext(path))
	if err != nil {
		return fmt.Errorf("preallocate %s: %w", path, err)
	}
	fail := func(err error) error {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("preallocate %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := unix.Fallocate(int(tmp.Fd()), 0, 0, size); err != nil {
		if !errors.Is(err, unix.EOPNOTSUPP) {
			return fail(err)
		}
		zeros := make([]byte, 1<<16)
		for left := size; left > 0; left -= int64(len(zeros)) {
			if _, err := tmp.Write(zeros[:min(left, int64(len(zeros)))]); err != nil {
				return fail(err)
			}
		}
	}
	return CommitNew(tmp, path)
}
