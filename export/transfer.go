package export

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/council/cctv/internal/fsutil"
)

// WriteTar sends the built package directory dir as a tar stream of its
// regular files, paths relative to dir. It stops when ctx ends.
func WriteTar(ctx context.Context, dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close() // read only
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("send package: %w", err)
	}
	return tw.Close()
}

// ReceiveOptions say what Receive makes of a package stream.
type ReceiveOptions struct {
	// OutDir is where the artefact goes (a USB stick, say). Required.
	OutDir string
	// Name is the package's directory name, as the daemon named it. Required.
	Name string
	// Zip hands over one .zip file instead of a directory.
	Zip bool
	// Recipients, if any, encrypt the zip with age (Zip is implied).
	Recipients []age.Recipient
	// Verify configures the verification of what was received.
	Verify VerifyOptions
}

// ErrNotVerified is returned by Receive when the received package does not
// verify; nothing is left under OutDir.
var ErrNotVerified = errors.New("the package does not verify")

// Artefact returns the path Receive puts its result at: OutDir/Name, or
// with .zip, or .zip.age.
func (o ReceiveOptions) Artefact() string {
	p := filepath.Join(o.OutDir, o.Name)
	if o.Zip || len(o.Recipients) > 0 {
		p += ".zip"
	}
	if len(o.Recipients) > 0 {
		p += ".age"
	}
	return p
}

// Received is what Receive put in place.
type Received struct {
	Path   string // the artefact: o.Artefact()
	Report Report // the verification of the package
	// SumsSHA256 is the SHA-256 of the package's SHA256SUMS, which names
	// the whole package: the receipt the daemon records the disclosure by.
	SumsSHA256 string
}

// Receive turns a package tar stream (WriteTar) into the artefact asked
// for at o.Artefact(), and returns what it put there.
//
// Only the artefact ever reaches OutDir, and only under its final name once
// it is complete, fsynced and verified: a directory is unpacked under a
// ".partial-" name in OutDir, verified, then renamed; a zip or encrypted
// package is unpacked in the system's temporary directory, verified there,
// zipped under a ".partial-" name in OutDir, the zip verified as the
// recipient will open it, encrypted if asked, and renamed. An existing
// artefact is never replaced (fs.ErrExist). On any error, a stream cut
// short, or a package that does not verify (ErrNotVerified, with the
// report), nothing is left in OutDir. A package whose signer could not be
// checked (no Verify.Fingerprint or AllowedSigners) does not verify either.
func Receive(ctx context.Context, r io.Reader, o ReceiveOptions) (Received, error) {
	if o.Name == "" || o.Name != filepath.Base(o.Name) || strings.HasPrefix(o.Name, ".") {
		return Received{}, fmt.Errorf("receive package: bad package name %q", o.Name)
	}
	final := o.Artefact()
	if _, err := os.Lstat(final); err == nil {
		return Received{}, fmt.Errorf("receive package: %s: %w", final, fs.ErrExist)
	}
	archive := o.Zip || len(o.Recipients) > 0
	stageIn := o.OutDir
	if archive {
		stageIn = "" // the plain folder never touches OutDir
	}
	stage, err := os.MkdirTemp(stageIn, ".partial-"+o.Name+"-")
	if err != nil {
		return Received{}, fmt.Errorf("receive package: %w", err)
	}
	defer os.RemoveAll(stage) // empty after a successful publish
	dir := filepath.Join(stage, o.Name)
	if err := untar(ctx, r, dir); err != nil {
		return Received{}, fmt.Errorf("receive package: %w", err)
	}
	got := Received{Path: final}
	if got.Report, err = verifyReceived(ctx, dir, o.Verify); err != nil {
		return got, err
	}
	sums, err := os.ReadFile(filepath.Join(dir, SumsName))
	if err != nil {
		return got, fmt.Errorf("receive package: %w", err)
	}
	h := sha256.Sum256(sums)
	got.SumsSHA256 = hex.EncodeToString(h[:])
	if archive {
		err = publishArchive(ctx, dir, o)
	} else {
		err = fsutil.PublishDir(dir, final)
	}
	if err != nil {
		return got, fmt.Errorf("receive package: %w", err)
	}
	got.Report.Package = final
	return got, nil
}

// publishArchive zips the verified package dir into OutDir, checks the zip
// as a recipient will unpack it, encrypts it if asked and commits the
// artefact under its final name.
func publishArchive(ctx context.Context, dir string, o ReceiveOptions) error {
	zipped, err := zipTo(dir, o.OutDir)
	if err != nil {
		return fmt.Errorf("zip package: %w", err)
	}
	defer os.Remove(zipped) // a temporary name until committed
	rep, err := verifyReceived(ctx, zipped, o.Verify)
	if err != nil {
		return fmt.Errorf("check the zip: %w (%d problem(s))", err, len(rep.Problems))
	}
	src := zipped
	if len(o.Recipients) > 0 {
		enc, err := encryptTo(zipped, o.OutDir, o.Recipients)
		if err != nil {
			return fmt.Errorf("encrypt package: %w", err)
		}
		defer os.Remove(enc)
		src = enc
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	return fsutil.CommitNew(f, o.Artefact())
}

// verifyReceived verifies a received package (a directory or a zip),
// turning a failed verification, or a signer that was not checked against
// opts, into ErrNotVerified.
func verifyReceived(ctx context.Context, p string, opts VerifyOptions) (Report, error) {
	rep, err := VerifyContext(ctx, p, opts)
	if err != nil {
		return rep, fmt.Errorf("verify the received package: %w", err)
	}
	if !rep.OK() {
		return rep, fmt.Errorf("%w: %d problem(s)", ErrNotVerified, len(rep.Problems))
	}
	if !rep.SignerChecked {
		return rep, fmt.Errorf("%w: its signer was not checked against the box's key", ErrNotVerified)
	}
	return rep, nil
}

// untar unpacks a package tar stream into dir, which must not exist: only
// regular files with clean relative paths, each synced as it is written.
func untar(ctx context.Context, r io.Reader, dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		clean := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || clean != h.Name || strings.HasPrefix(clean, "../") || path.IsAbs(clean) {
			return fmt.Errorf("unexpected entry %q", h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
	}
}
