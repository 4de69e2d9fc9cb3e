package export_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/council/cctv/export"
)

// stream sends a built package through WriteTar into Receive, as the daemon
// and the CLI do over the socket; alter, if set, changes the staged package
// while it is being sent.
func stream(t *testing.T, pkg string, o export.ReceiveOptions, alter func()) (export.Received, error) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		if alter != nil {
			alter()
		}
		pw.CloseWithError(export.WriteTar(context.Background(), pkg, pw))
	}()
	defer pr.Close()
	return export.Receive(t.Context(), pr, o)
}

// entries lists what is in dir, hidden names included.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestReceive_VerifiesBeforeRename(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 3)
	pkg, err := export.Build(t.Context(), f.request(t0.Add(time.Second), t0.Add(9*time.Second), "front-desk"))
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(pkg)
	for _, tc := range []struct {
		name string
		opts export.ReceiveOptions
	}{
		{"directory", export.ReceiveOptions{Name: name}},
		{"zip", export.ReceiveOptions{Name: name, Zip: true}},
	} {
		t.Run(tc.name+"/good", func(t *testing.T) {
			o := tc.opts
			o.OutDir, o.Verify.Fingerprint = t.TempDir(), f.key.Fingerprint()
			got, err := stream(t, pkg, o, nil)
			if err != nil || !got.Report.OK() || !got.Report.SignerChecked {
				t.Fatalf("Receive = %v, %v", err, got.Report.Problems)
			}
			if got.Path != o.Artefact() || len(entries(t, o.OutDir)) != 1 {
				t.Errorf("received %s; out holds %v, want only %s", got.Path, entries(t, o.OutDir), filepath.Base(o.Artefact()))
			}
			if sums := fileHash(t, filepath.Join(pkg, export.SumsName)); got.SumsSHA256 != sums {
				t.Errorf("receipt names SHA256SUMS %s, the package's is %s", got.SumsSHA256, sums)
			}
			if _, err := stream(t, pkg, o, nil); !errors.Is(err, fs.ErrExist) {
				t.Errorf("second Receive over the first = %v, want fs.ErrExist", err)
			}
		})
	}
	// Altered in transit: nothing under --out at all, not even a temporary name.
	for _, tc := range []struct {
		name string
		opts export.ReceiveOptions
	}{
		{"directory", export.ReceiveOptions{Name: name}},
		{"zip", export.ReceiveOptions{Name: name, Zip: true}},
	} {
		t.Run(tc.name+"/altered", func(t *testing.T) {
			bad := copyPackage(t, pkg)
			masters, _ := filepath.Glob(filepath.Join(bad, "master", "front-desk", "*.ts"))
			if len(masters) == 0 {
				t.Fatal("no master in the package")
			}
			o := tc.opts
			o.OutDir, o.Verify.Fingerprint = t.TempDir(), f.key.Fingerprint()
			got, err := stream(t, bad, o, func() {
				b, _ := os.ReadFile(masters[0])
				b[len(b)/2] ^= 0xff
				_ = os.WriteFile(masters[0], b, 0o644)
			})
			if !errors.Is(err, export.ErrNotVerified) || got.Report.OK() {
				t.Fatalf("Receive of an altered package = %v (problems %v), want ErrNotVerified", err, got.Report.Problems)
			}
			if left := entries(t, o.OutDir); len(left) != 0 {
				t.Errorf("after a failed verification --out holds %v, want nothing", left)
			}
		})
	}
}
