package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// ErrEncrypted is returned by Open for an age-encrypted package when no
// identity was given.
var ErrEncrypted = errors.New("the package is encrypted")

// ErrNotPackage is wrapped by Open's error when the path is neither a
// directory, a zip nor an age file, or a zip is not laid out as a package
// (an entry outside the package directory, a link, two top-level
// directories, an entry twice).
var ErrNotPackage = errors.New("not an evidence package")

// Package is an opened package: a directory, a zip of it, or an
// age-encrypted zip. Close it when done.
type Package struct {
	Path string // as given to Open
	Kind string // "directory", "zip" or "age"
	Dir  string // for a directory: the resolved directory (symbolic links followed)
	FS   fs.FS  // rooted at the package directory

	closers []func() error
}

// Close releases what Open opened and removes its temporary files. It is
// idempotent.
func (p *Package) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	p.closers = nil
	return errors.Join(errs...)
}

// Open opens the package at p. A directory is used in place (a symbolic
// link to it is resolved first). A zip is read in place, never extracted:
// its entries are checked to be plain files and directories inside one
// package directory (directory entries, as `zip -r` writes them, are
// accepted), and Verify later reads each at most to the size the manifest
// declares. An age file is decrypted with identities into a temporary file
// (removed by Close) and must hold such a zip; with no identities, Open
// returns ErrEncrypted.
func Open(p string, identities []age.Identity) (pkg *Package, err error) {
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	if fi.IsDir() {
		return &Package{Path: p, Kind: "directory", Dir: resolved, FS: os.DirFS(resolved)}, nil
	}
	f, err := os.Open(resolved)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	pkg = &Package{Path: p, closers: []func() error{f.Close}}
	defer func() {
		if err != nil {
			_ = pkg.Close() // the open error is what matters
			pkg = nil
		}
	}()
	head := make([]byte, 64)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		pkg.Kind = "zip"
		pkg.FS, err = openZip(f, fi.Size())
		return pkg, err
	case bytes.HasPrefix(head, []byte("age-encryption.org/")) || bytes.HasPrefix(head, []byte(armor.Header)):
		pkg.Kind = "age"
	default:
		return pkg, fmt.Errorf("open %s: %w: neither a directory, a .zip nor an .age file", p, ErrNotPackage)
	}
	if len(identities) == 0 {
		return pkg, ErrEncrypted
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return pkg, err
	}
	var in io.Reader = bufio.NewReader(f)
	if bytes.HasPrefix(head, []byte(armor.Header)) {
		in = armor.NewReader(in)
	}
	r, err := age.Decrypt(in, identities...)
	if err != nil {
		return pkg, fmt.Errorf("decrypt %s: %w", p, err)
	}
	tmp, err := os.CreateTemp("", "cctv-verify-*.zip")
	if err != nil {
		return pkg, err
	}
	pkg.closers = append(pkg.closers, func() error { return os.Remove(tmp.Name()) }, tmp.Close)
	// Decrypted data is never larger than the ciphertext, so this is bounded
	// by the file given.
	size, err := io.Copy(tmp, r)
	if err != nil {
		return pkg, fmt.Errorf("decrypt %s: %w", p, err)
	}
	pkg.FS, err = openZip(tmp, size)
	if err != nil {
		return pkg, fmt.Errorf("decrypted %s: %w", p, err)
	}
	return pkg, nil
}

// openZip checks the zip's layout and returns it as a file system rooted at
// the package directory.
func openZip(r io.ReaderAt, size int64) (fs.FS, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: not a readable zip: %v", ErrNotPackage, err)
	}
	seen := map[string]bool{}
	tops := map[string]bool{}
	rootManifest := false
	for _, f := range zr.File {
		name := f.Name
		isDir := strings.HasSuffix(name, "/")
		clean := strings.TrimSuffix(name, "/")
		switch {
		case !validRel(clean):
			return nil, fmt.Errorf("%w: zip entry %q is not a path inside the package", ErrNotPackage, name)
		case isDir && !f.Mode().IsDir() && f.Mode()&fs.ModeType != 0,
			!isDir && !f.Mode().IsRegular():
			return nil, fmt.Errorf("%w: zip entry %q is not a plain file or directory (%s)", ErrNotPackage, name, f.Mode().Type())
		case seen[clean]:
			return nil, fmt.Errorf("%w: zip entry %q appears twice", ErrNotPackage, clean)
		}
		seen[clean] = true
		top, _, _ := strings.Cut(clean, "/")
		if !isDir && top == clean {
			if clean == ManifestName {
				rootManifest = true
			}
		}
		tops[top] = true
	}
	if len(zr.File) == 0 {
		return nil, fmt.Errorf("%w: the zip is empty", ErrNotPackage)
	}
	if rootManifest {
		return zr, nil // the package's files at the zip's top level
	}
	if len(tops) != 1 {
		return nil, fmt.Errorf("%w: the zip holds %d top-level entries; want the one package directory", ErrNotPackage, len(tops))
	}
	for top := range tops {
		if seen[top] && !zipIsDir(zr, top) {
			return nil, fmt.Errorf("%w: the zip holds the file %q, not a package directory", ErrNotPackage, top)
		}
		return fs.Sub(zr, top)
	}
	panic("unreachable")
}

func zipIsDir(zr *zip.Reader, name string) bool {
	for _, f := range zr.File {
		if f.Name == name+"/" {
			return true
		}
	}
	return false
}

// validRel reports whether p is a clean slash-separated path inside the
// package, without characters that sha256sum would escape.
func validRel(p string) bool {
	return p != "" && p != "." && !strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.HasPrefix(p, "../") && p != ".." &&
		!strings.ContainsAny(p, "\\\n\r\x00")
}
