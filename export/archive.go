package export

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// Zip writes pkgDir as <pkgDir>.zip (the package directory at the zip's
// top level) under a temporary name, renamed when complete, and removes
// the directory. The zip is stored, not compressed: video does not compress.
func Zip(pkgDir string) (string, error) {
	dst := pkgDir + ".zip"
	if _, err := os.Lstat(dst); err == nil {
		return "", fmt.Errorf("zip package: %s already exists", dst)
	}
	tmp, err := os.CreateTemp(filepath.Dir(pkgDir), ".partial-*.zip")
	if err != nil {
		return "", fmt.Errorf("zip package: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename
	bw := bufio.NewWriterSize(tmp, 1<<20)
	zw := zip.NewWriter(bw)
	base := filepath.Base(pkgDir)
	err = filepath.WalkDir(pkgDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(pkgDir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = path.Join(base, filepath.ToSlash(rel))
		h.Method = zip.Store
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err := commitTemp(tmp, bw, dst, err); err != nil {
		return "", fmt.Errorf("zip package: %w", err)
	}
	return dst, os.RemoveAll(pkgDir)
}

// commitTemp finishes a file written through bw to tmp: unless err is
// already set, it flushes, fsyncs, closes, renames tmp to dst and fsyncs
// the directory. tmp is always closed.
func commitTemp(tmp *os.File, bw *bufio.Writer, dst string, err error) error {
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// ParseRecipient reads an age recipient ("age1…") or an OpenSSH Ed25519 or
// RSA public key line ("ssh-ed25519 AAAA…").
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "age1") {
		return age.ParseX25519Recipient(s)
	}
	if strings.HasPrefix(s, "ssh-") {
		return agessh.ParseRecipient(s)
	}
	return nil, fmt.Errorf("%q is neither an age recipient (age1…) nor an SSH public key (ssh-ed25519 …)", s)
}

// Encrypt encrypts the file at src to src+".age" for the recipients (a
// passphrase is age.NewScryptRecipient) and removes src. The recipient
// decrypts with the standard age tool.
func Encrypt(src string, recipients ...age.Recipient) (string, error) {
	dst := src + ".age"
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("encrypt package: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(src), ".partial-*.age")
	if err != nil {
		return "", fmt.Errorf("encrypt package: %w", err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	w, err := age.Encrypt(bw, recipients...)
	if err == nil {
		_, err = io.Copy(w, in)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err := commitTemp(tmp, bw, dst, err); err != nil {
		return "", fmt.Errorf("encrypt package: %w", err)
	}
	return dst, os.Remove(src)
}

// Unpack makes a package directory out of what Verify is given: a
// directory is used as it is; a .zip is extracted, and a .age file is
// decrypted with the identities first, into a temporary directory that the
// returned cleanup removes.
func Unpack(p string, identities []age.Identity) (dir string, cleanup func(), err error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", nil, err
	}
	if st.IsDir() {
		return p, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "cctv-verify-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	zipPath := p
	if strings.HasSuffix(p, ".age") {
		if len(identities) == 0 {
			cleanup()
			return "", nil, errors.New("the package is encrypted: give the identity file (--identity) or the passphrase (--passphrase)")
		}
		in, err := os.Open(p)
		if err != nil {
			cleanup()
			return "", nil, err
		}
		defer in.Close()
		r, err := age.Decrypt(in, identities...)
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("decrypt %s: %w", p, err)
		}
		zipPath = filepath.Join(tmp, "package.zip")
		out, err := os.Create(zipPath)
		if err != nil {
			cleanup()
			return "", nil, err
		}
		_, err = io.Copy(out, r)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("decrypt %s: %w", p, err)
		}
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("open %s as a zip: %w", p, err)
	}
	defer zr.Close()
	root := ""
	for _, f := range zr.File {
		name := path.Clean(f.Name)
		if name != f.Name || path.IsAbs(name) || strings.HasPrefix(name, "../") || name == ".." || f.Mode()&fs.ModeType != 0 {
			cleanup()
			return "", nil, fmt.Errorf("zip entry %q: not a plain file inside the package", f.Name)
		}
		top, _, _ := strings.Cut(name, "/")
		if root == "" {
			root = top
		} else if top != root {
			cleanup()
			return "", nil, fmt.Errorf("zip holds more than one top-level directory (%q and %q)", root, top)
		}
		dst := filepath.Join(tmp, "x", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			cleanup()
			return "", nil, err
		}
		if err := extract(f, dst); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	if root == "" {
		cleanup()
		return "", nil, errors.New("the zip is empty")
	}
	return filepath.Join(tmp, "x", root), cleanup, nil
}

func extract(f *zip.File, dst string) error {
	r, err := f.Open()
	if err != nil {
		return fmt.Errorf("zip entry %s: %w", f.Name, err)
	}
	defer r.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("zip entry %s: %w", f.Name, err)
	}
	return nil
}
