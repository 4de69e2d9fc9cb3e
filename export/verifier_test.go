package export_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/council/cctv/export"
	"github.com/council/cctv/export/evidence"
	"github.com/council/cctv/internal/testutil"
)

// buildVerifier builds cmd/cctv-verify with CGO_ENABLED=0 into a temporary
// directory, checks that its dependencies hold no cgo, and returns its path.
var buildVerifier = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "cctv-verify-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "cctv-verify")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/cctv-verify")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("CGO_ENABLED=0 go build ./cmd/cctv-verify: " + err.Error() + "\n" + string(out))
	}
	cmd = exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{if .CgoFiles}}cgo{{end}}", "../cmd/cctv-verify")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", errors.New("go list: " + err.Error())
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(l, " cgo") || strings.Contains(l, "astiav") || strings.Contains(l, "internal/media") || strings.Contains(l, "bbolt") {
			return "", errors.New("cctv-verify depends on " + l)
		}
	}
	return bin, nil
})

func runVerifier(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin, err := buildVerifier()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

// TestCctvVerify_Static builds the standalone verifier without cgo and
// checks packages with it as a recipient would: a directory in either
// argument order, a symbolic link to it, a zip made by `zip -r` (directory
// entries), an encrypted package; every exit code.
func TestCctvVerify_Static(t *testing.T) {
	testutil.NeedTools(t, "go", "zip", "age")
	f := newFixture(t)
	f.record("front-desk", t0, 2)
	pkg, err := export.Build(t.Context(), f.request(t0.Add(time.Second), t0.Add(7*time.Second), "front-desk"))
	if err != nil {
		t.Fatal(err)
	}
	fp := f.key.Fingerprint()
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(pkg, link); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(dir, "p.zip")
	run(t, filepath.Dir(pkg), "zip", "-qr", zipPath, filepath.Base(pkg))
	if out := run(t, dir, "unzip", "-l", zipPath); !strings.Contains(out, filepath.Base(pkg)+"/master/") {
		t.Fatalf("zip -r wrote no directory entries:\n%s", out)
	}
	idFile := filepath.Join(dir, "id.txt")
	run(t, dir, "age-keygen", "-o", idFile)
	recip := strings.TrimSpace(run(t, dir, "age-keygen", "-y", idFile))
	agePath := filepath.Join(dir, "p.zip.age")
	run(t, dir, "age", "-r", recip, "-o", agePath, zipPath)

	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stdout string // prefix
	}{
		{"fingerprint-after", []string{pkg, "--fingerprint", fp}, 0, "OK: case WMP-22112026/0042, exhibit AB/1"},
		{"fingerprint-before", []string{"--fingerprint=" + fp, pkg}, 0, "OK:"},
		{"symlinked-root", []string{link, "--fingerprint", fp}, 0, "OK:"},
		{"zip-with-directory-entries", []string{zipPath, "--fingerprint", fp}, 0, "OK:"},
		{"encrypted", []string{agePath, "--identity", idFile, "--fingerprint", fp}, 0, "OK:"},
		{"encrypted-no-identity", []string{agePath, "--fingerprint", fp}, 2, ""},
		{"no-fingerprint", []string{pkg}, 3, "INTACT, BUT THE SIGNER WAS NOT CHECKED"},
		{"wrong-fingerprint", []string{pkg, "--fingerprint", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 1, "FAIL allowed_signers"},
		{"no-package", []string{"--fingerprint", fp}, 2, ""},
		{"two-packages", []string{pkg, pkg}, 2, ""},
		{"unknown-flag", []string{pkg, "--fingerprnt", fp}, 2, ""},
		{"missing", []string{filepath.Join(dir, "nope")}, 2, ""},
		{"help", []string{"--help"}, 0, "usage: cctv-verify PACKAGE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runVerifier(t, c.args...)
			if code != c.code || !strings.HasPrefix(stdout, c.stdout) {
				t.Errorf("exit %d, want %d; stdout %q, want prefix %q; stderr:\n%s", code, c.code, stdout, c.stdout, stderr)
			}
			if c.code == 3 && !strings.Contains(stderr, "WARNING: ANYONE CAN SIGN") {
				t.Errorf("no warning in capitals: %s", stderr)
			}
		})
	}
}

// TestVerify_ListAndSizesBeforeHashing: files not listed, and listed files
// of the wrong size, are never read; so a huge (sparse) file costs nothing.
func TestVerify_ListAndSizesBeforeHashing(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 2)
	pkg, err := export.Build(t.Context(), f.request(t0, t0.Add(6*time.Second), "front-desk"))
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, pkg)
	var listed int64
	for _, fl := range m.Files {
		listed += fl.Size
	}
	p := copyPackage(t, pkg)
	huge := int64(20 << 30)
	for _, name := range []string{"extra.bin", m.Files[len(m.Files)-1].Path} {
		fh, err := os.OpenFile(filepath.Join(p, name), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := fh.Truncate(huge); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	var total int64
	rep, err := export.Verify(p, export.VerifyOptions{Progress: func(done, all int64) { total = all }})
	if err != nil {
		t.Fatal(err)
	}
	if want := listed - m.Files[len(m.Files)-1].Size; total != want {
		t.Errorf("hashed %d bytes, want %d: only listed files of the right size", total, want)
	}
	var kinds []string
	for _, pr := range rep.Problems {
		kinds = append(kinds, pr.File+" "+pr.Kind)
	}
	if !strings.Contains(strings.Join(kinds, ","), "extra.bin extra") || !strings.Contains(strings.Join(kinds, ","), m.Files[len(m.Files)-1].Path+" altered") {
		t.Errorf("problems %v", rep.Problems)
	}
}

// TestVerify_Cancelled: verification stops when its context is cancelled
// (Ctrl-C in the CLI) and says so.
func TestVerify_Cancelled(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 3)
	pkg, err := export.Build(t.Context(), f.request(t0, t0.Add(10*time.Second), "front-desk"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	_, err = export.VerifyContext(ctx, pkg, export.VerifyOptions{Progress: func(done, total int64) {
		calls++
		cancel()
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if calls > 2 {
		t.Errorf("%d more reads after the cancel", calls-1)
	}
}

// TestVerify_ZipBounded: a zip is verified in place, never extracted; an
// entry larger than the manifest declares is reported by its size and not
// read, and an undeclared entry (here 256 MiB of zeros, deflated to a few
// hundred KiB) is reported and not read.
func TestVerify_ZipBounded(t *testing.T) {
	testutil.NeedTools(t, "zip")
	f := newFixture(t)
	f.record("front-desk", t0, 2)
	pkg, err := export.Build(t.Context(), f.request(t0, t0.Add(6*time.Second), "front-desk"))
	if err != nil {
		t.Fatal(err)
	}
	p := copyPackage(t, pkg)
	zeros := make([]byte, 256<<20)
	mustWrite(t, filepath.Join(p, "bomb.bin"), zeros)
	mustWrite(t, filepath.Join(p, "README.txt"), zeros[:10<<20])
	zipPath := filepath.Join(t.TempDir(), "p.zip")
	run(t, filepath.Dir(p), "zip", "-qr", zipPath, filepath.Base(p))
	if fi, _ := os.Stat(zipPath); fi.Size() > 8<<20 {
		t.Fatalf("zip is %d bytes", fi.Size())
	}
	var total int64
	rep, err := evidence.VerifyPath(t.Context(), zipPath, evidence.Options{Progress: func(done, all int64) { total = all }})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, pr := range rep.Problems {
		got[pr.File] = pr.Kind
	}
	if got["bomb.bin"] != evidence.KindExtra || got["README.txt"] != evidence.KindAltered {
		t.Errorf("problems %v", rep.Problems)
	}
	if total > 4<<20 {
		t.Errorf("read %d bytes of the zip's entries", total)
	}
}
