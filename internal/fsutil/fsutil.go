// Package fsutil holds the small file-system primitives the store relies on for
// durability: fsync of directories, exclusive creation, atomic replacement,
// disk-full classification and free-space queries.
//
// Every function that creates or renames an entry fsyncs the directory that
// holds it before returning, so on success the new name survives a power cut.
// On error nothing is promised about durability; callers must not retry an
// fsync and trust the result (a failed fsync may have dropped dirty pages).
package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
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
