package export

import (
	"archive/zip"
	"bufio"
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

// zipTo writes the package directory pkgDir as a zip (the package
// directory at the zip's top level) to a new temporary file in outDir,
// fsynced, and returns its name: the caller commits or removes it. The zip
// is stored, not compressed: video does not compress.
func zipTo(pkgDir, outDir string) (_ string, err error) {
	tmp, err := os.CreateTemp(outDir, ".partial-*.zip")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(tmp.Name()) // our own temporary file
		}
	}()
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
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	return tmp.Name(), err
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

// encryptTo encrypts the file at src with age for the recipients (a
// passphrase is age.NewScryptRecipient) into a new temporary file in
// outDir, fsynced, and returns its name: the caller commits or removes it.
// The recipient decrypts with the standard age tool.
func encryptTo(src, outDir string, recipients []age.Recipient) (_ string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close() // read only
	tmp, err := os.CreateTemp(outDir, ".partial-*.age")
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(tmp.Name()) // our own temporary file
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	w, err := age.Encrypt(bw, recipients...)
	if err != nil {
		return "", err
	}
	if _, err = io.Copy(w, in); err != nil {
		return "", err
	}
	if err = w.Close(); err != nil {
		return "", err
	}
	if err = bw.Flush(); err != nil {
		return "", err
	}
	return tmp.Name(), tmp.Sync()
}
