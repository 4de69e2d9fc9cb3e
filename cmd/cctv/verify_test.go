package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/config"
	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/store"
)

// TestVerify_RecordedFootageRoundTrip records with the real daemon, builds a
// package from the store with the export library, and checks `cctv verify`
// accepts it and rejects it once altered or when another key is expected.
func TestVerify_RecordedFootageRoundTrip(t *testing.T) {
	b := newBox(t, "desk")
	d := b.startDaemon()
	waitUntil(t, "two segments", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 2
	})
	stopDaemon(t, d)

	cfg, err := config.Load(b.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	key, err := boxkey.Load(cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.DataDir, store.Options{BoxID: cfg.BoxID, Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.SignedSegments("desk", time.Unix(0, 0), time.Now().Add(time.Hour))
	if err != nil || len(all) < 2 {
		t.Fatalf("segments: %v, %d", err, len(all))
	}
	e, err := st.Audit(store.AuditEntry{Action: "export", Params: map[string]string{"case": "T-3"}, Result: "started"})
	if err != nil {
		t.Fatal(err)
	}
	proof, err := export.AuditProofOf(st, e.Seq)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	from, to := all[0].Start.Add(time.Second), all[1].End.Add(-time.Second)
	out := t.TempDir()
	pkg, err := export.Build(context.Background(), export.Request{
		Site: cfg.Site, BoxID: cfg.BoxID, Location: cfg.Location,
		Cameras: []export.Camera{{ID: "desk", Name: "desk", Segments: all[:2]}},
		From:    from, To: to, Case: "T-3", Reason: "test", Recipient: "PC 1 Test, Test Police",
		Producer: export.ProducerOf("root"), Audit: proof, Key: key, OutDir: out, SoftwareVersion: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	// Both argument orders, as README.txt and report.html print it.
	for _, args := range [][]string{{"verify", "--fingerprint", key.Fingerprint(), pkg}, {"verify", pkg, "--fingerprint", key.Fingerprint()}} {
		code, stdout, stderr := b.run(args...)
		if code != 0 || !strings.HasPrefix(stdout, "OK: case T-3") {
			t.Fatalf("%v of a good package: exit %d\n%s%s", args, code, stdout, stderr)
		}
	}
	// Without a fingerprint the signer is not checked: exit 3, in capitals.
	code, stdout, stderr := b.run("verify", pkg)
	if code != 3 || !strings.HasPrefix(stdout, "INTACT, BUT THE SIGNER WAS NOT CHECKED") || !strings.Contains(stderr, "WARNING") {
		t.Errorf("verify without a fingerprint: exit %d, want 3\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = b.run("verify", "--fingerprint", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", pkg)
	if code != 1 {
		t.Errorf("verify expecting another box's key: exit %d: %s", code, stderr)
	}
	masters, _ := filepath.Glob(filepath.Join(pkg, "master", "desk", "*.ts"))
	if len(masters) == 0 {
		t.Fatal("no masters in the package")
	}
	f, err := os.OpenFile(masters[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x47 ^ 0xff}, 188*10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, stdout, _ = b.run("verify", pkg)
	if code != 1 || !strings.Contains(stdout, filepath.Base(masters[0])) {
		t.Errorf("verify of an altered master: exit %d, does not name %s:\n%s", code, filepath.Base(masters[0]), stdout)
	}
	if code, _, _ := b.run("verify", filepath.Join(out, "nope")); code != 2 {
		t.Errorf("verify of a missing directory: exit %d, want 2", code)
	}
}
