package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/store"
)

func TestDaemon_Export_EndToEnd(t *testing.T) {
	b := newBox(t, "desk", "hall")
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "two segments per camera", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 2 && len(l.Cameras[0].Segments) >= 2 && len(l.Cameras[1].Segments) >= 2
	})
	segs := b.list(false).Cameras[0].Segments
	from := segs[0].Start.Add(2 * time.Second)
	to := segs[1].End.Add(-time.Second)
	still := segs[1].Start // a still exactly at a segment boundary
	out := t.TempDir()
	stdout := b.mustRun("export", "--camera", "desk,hall", "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano),
		"--case", "WMP-1", "--reason", "Police request: test", "--recipient", "PC 1 Test, Test Police",
		"--still", still.Format(time.RFC3339Nano), "--out", out)
	dirs, _ := filepath.Glob(filepath.Join(out, "WMP-1_box-1_*"))
	if len(dirs) != 1 || !strings.Contains(stdout, "verified:") {
		t.Fatalf("export wrote %v:\n%s", dirs, stdout)
	}
	pkg := dirs[0]
	if left, _ := filepath.Glob(filepath.Join(out, ".partial*")); len(left) != 0 {
		t.Errorf("partial directories left behind: %v", left)
	}

	// The recipient's own tools.
	sig := exec.Command("ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", "box-1", "-n", "cctv-evidence", "-s", "manifest.json.sig")
	sig.Dir = pkg
	manifest, err := os.ReadFile(filepath.Join(pkg, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	sig.Stdin = bytes.NewReader(manifest)
	if out, err := sig.CombinedOutput(); err != nil {
		t.Errorf("ssh-keygen -Y verify: %v: %s", err, out)
	}
	sums := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
	sums.Dir = pkg
	if out, err := sums.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v: %s", err, out)
	}
	for _, cam := range []string{"desk", "hall"} {
		if _, err := os.Stat(filepath.Join(pkg, "video", cam+".mp4")); err != nil {
			t.Errorf("no working copy for %s: %v", cam, err)
		}
	}
	stills, _ := filepath.Glob(filepath.Join(pkg, "stills", "*.jpg"))
	if len(stills) != 2 {
		t.Errorf("stills: %v, want one per camera", stills)
	}
	b.mustRun("verify", pkg, "--fingerprint", boxFingerprint(t, b))

	// The disclosure log has one entry for the delivered package, naming the
	// recipient and the package by its SHA256SUMS; the package carries the
	// entry of its making.
	sumsFile, err := os.ReadFile(filepath.Join(pkg, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(sumsFile)
	var disclosures []store.AuditEntry
	for _, e := range b.auditEntries() {
		if e.Action == "export" {
			disclosures = append(disclosures, e)
		}
	}
	if len(disclosures) != 1 || disclosures[0].Params["recipient"] != "PC 1 Test, Test Police" || disclosures[0].Params["case"] != "WMP-1" ||
		disclosures[0].Params["sha256sums"] != hex.EncodeToString(h[:]) || disclosures[0].Result != "delivered" {
		t.Errorf("disclosure log: %+v, want one delivered entry with the recipient and the SHA-256 of SHA256SUMS", disclosures)
	}
	carried, err := os.ReadFile(filepath.Join(pkg, "audit", "entries.jsonl"))
	if err != nil || !strings.Contains(string(carried), `"action":"export.started"`) {
		t.Errorf("package does not carry its audit entry: %v %s", err, carried)
	}

	// No footage: a clear failure naming the window, nothing written.
	empty := t.TempDir()
	code, _, stderr := b.run("export", "--camera", "desk", "--from", "2026-01-01T10:00:00Z", "--to", "2026-01-01T11:00:00Z",
		"--case", "WMP-2", "--reason", "r", "--recipient", "p", "--out", empty)
	if code != 1 || !strings.Contains(stderr, "no footage") {
		t.Errorf("export of an empty window: exit %d: %s", code, stderr)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("an empty export left %v", entries)
	}
	// A failed export is not a disclosure.
	n := 0
	for _, e := range b.auditEntries() {
		if e.Action == "export" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d disclosure entries after one delivered and one failed export, want 1", n)
	}
}

func TestDaemon_Export_ViewerRefused(t *testing.T) {
	testutil.NeedRoot(t, "it creates throwaway users")
	testutil.NeedTool(t, "useradd")
	b := newBox(t, "desk")
	viewer := throwawayUser(t, "cctvte"+strconv.Itoa(os.Getpid()%100000), "cctvt-view")
	bin := filepath.Join(b.dir, "cctv")
	copyFile(t, os.Args[0], bin, 0o755)
	out := filepath.Join(b.dir, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	d := b.startDaemon()
	defer stopDaemon(t, d)
	code, text := asUser(t, bin, viewer, b.cfgPath, "export", "--camera", "desk", "--from", "2026-01-01T10:00:00Z",
		"--to", "2026-01-01T11:00:00Z", "--case", "X", "--reason", "r", "--recipient", "p", "--out", out)
	if code != 1 || !strings.Contains(text, "cctvt-export") {
		t.Errorf("viewer export: exit %d: %s (want a refusal naming group cctvt-export)", code, text)
	}
	refused := false
	for _, e := range b.auditEntries() {
		refused = refused || (e.Action == "request.export" && e.User == viewer.Username && strings.HasPrefix(e.Result, "refused"))
	}
	if !refused {
		t.Error("the viewer's export refusal is not in the audit log")
	}
}

func TestDaemon_Export_ZipAndEncrypted(t *testing.T) {
	testutil.NeedTool(t, "age", "age-keygen", "unzip", "ssh-keygen")
	b := newBox(t, "desk")
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "a segment", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 1
	})
	s := b.list(false).Cameras[0].Segments[0]
	window := []string{"export", "--camera", "desk", "--from", s.Start.Format(time.RFC3339Nano), "--to", s.End.Format(time.RFC3339Nano),
		"--reason", "r", "--recipient", "PC 2 Test, Test Police"}
	keys := t.TempDir()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = keys
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v: %s", name, args, err, out)
		}
		return string(out)
	}

	// --zip: one file; unzip (an independent tool) gives a package that verifies.
	out := t.TempDir()
	b.mustRun(append(window, "--case", "Z-1", "--zip", "--out", out)...)
	zips, _ := filepath.Glob(filepath.Join(out, "Z-1_*.zip"))
	if entries, _ := os.ReadDir(out); len(zips) != 1 || len(entries) != 1 {
		t.Fatalf("--zip left %v", entries)
	}
	b.mustRun("verify", zips[0], "--fingerprint", boxFingerprint(t, b))
	run("unzip", "-q", zips[0], "-d", filepath.Join(keys, "unzipped"))
	unzipped, _ := filepath.Glob(filepath.Join(keys, "unzipped", "Z-1_*"))
	if len(unzipped) != 1 {
		t.Fatalf("unzip gave %v", unzipped)
	}
	sums := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
	sums.Dir = unzipped[0]
	if o, err := sums.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c in the unzipped package: %v: %s", err, o)
	}

	// --encrypt-to an age recipient and an SSH key: age -d with either key.
	run("age-keygen", "-o", "age.key")
	ageRecipient := strings.TrimSpace(run("age-keygen", "-y", "age.key"))
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "id_ed25519")
	sshRecipient, _ := os.ReadFile(filepath.Join(keys, "id_ed25519.pub"))
	out = t.TempDir()
	b.mustRun(append(window, "--case", "E-1", "--encrypt-to", ageRecipient, "--encrypt-to", strings.TrimSpace(string(sshRecipient)), "--out", out)...)
	enc, _ := filepath.Glob(filepath.Join(out, "E-1_*.zip.age"))
	if entries, _ := os.ReadDir(out); len(enc) != 1 || len(entries) != 1 {
		t.Fatalf("--encrypt-to left %v", entries)
	}
	// The same export again never replaces the exhibit (exit 2, naming it).
	before := sha256.Sum256(mustReadFile(t, enc[0]))
	code, _, stderr := b.run(append(window, "--case", "E-1", "--encrypt-to", ageRecipient, "--out", out)...)
	if after := sha256.Sum256(mustReadFile(t, enc[0])); code != 2 || !strings.Contains(stderr, filepath.Base(enc[0])+" already exists") || after != before {
		t.Errorf("a second --encrypt-to export over the first: exit %d, replaced=%v: %s", code, after != before, stderr)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("after the refused export --out holds %v", entries)
	}
	run("age", "-d", "-i", "age.key", "-o", "by-age.zip", enc[0])
	run("age", "-d", "-i", "id_ed25519", "-o", "by-ssh.zip", enc[0])
	b.mustRun("verify", filepath.Join(keys, "by-ssh.zip"), "--fingerprint", boxFingerprint(t, b))
	b.mustRun("verify", "--identity", filepath.Join(keys, "age.key"), enc[0], "--fingerprint", boxFingerprint(t, b))
	if code, _, stderr = b.run("verify", enc[0]); code != 2 || !strings.Contains(stderr, "encrypted") {
		t.Errorf("verify of an encrypted package without a key: exit %d: %s", code, stderr)
	}

	// --passphrase (from the environment here; a terminal asks twice).
	t.Setenv(envPassphrase, "correct horse battery staple")
	out = t.TempDir()
	b.mustRun(append(window, "--case", "P-1", "--passphrase", "--out", out)...)
	enc, _ = filepath.Glob(filepath.Join(out, "P-1_*.zip.age"))
	if len(enc) != 1 {
		t.Fatal("no passphrase-encrypted package")
	}
	b.mustRun("verify", "--passphrase", enc[0], "--fingerprint", boxFingerprint(t, b))
	if _, err := exec.LookPath("script"); err == nil {
		// age reads a passphrase only from a terminal: give it one.
		cmd := exec.Command("script", "-qec", "age -d -o by-pass.zip "+enc[0], "/dev/null")
		cmd.Dir = keys
		cmd.Stdin = strings.NewReader("correct horse battery staple\n")
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("age -d with the passphrase: %v: %s", err, o)
		} else {
			b.mustRun("verify", filepath.Join(keys, "by-pass.zip"), "--fingerprint", boxFingerprint(t, b))
		}
	}
}

func TestDaemon_Still_CaptionedJPEG(t *testing.T) {
	b := newBox(t, "desk")
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "a segment", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 1
	})
	s := b.list(false).Cameras[0].Segments[0]
	out := filepath.Join(t.TempDir(), "still.jpg")
	b.mustRun("still", "--camera", "desk", "--at", s.Start.Add(1500*time.Millisecond).Format(time.RFC3339Nano), "--out", out)
	probe, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatalf("ffprobe still: %v", err)
	}
	var w, h int
	var codec string
	if _, err := fmt.Sscanf(strings.ReplaceAll(strings.TrimSpace(string(probe)), ",", " "), "%s %d %d", &codec, &w, &h); err != nil {
		t.Fatalf("ffprobe said %q", probe)
	}
	if codec != "mjpeg" || w != 320 || h <= 240 {
		t.Errorf("still is %s %dx%d, want a JPEG 320 wide and taller than the 240-line frame (caption band)", codec, w, h)
	}
	if code, _, _ := b.run("still", "--camera", "desk", "--at", s.Start.Add(time.Second).Format(time.RFC3339Nano), "--out", out); code != 2 {
		t.Errorf("still over an existing file: exit %d, want 2", code)
	}
	found := false
	for _, e := range b.auditEntries() {
		found = found || (e.Action == "still" && e.Params["camera"] == "desk")
	}
	if !found {
		t.Error("still not audited")
	}
}

// boxFingerprint is the box key's fingerprint as `cctv keys show` prints it:
// what the police register, and what verify must be given to exit 0.
func boxFingerprint(t *testing.T, b *box) string {
	t.Helper()
	for _, l := range strings.Split(b.mustRun("keys", "show"), "\n") {
		if fp, ok := strings.CutPrefix(l, "fingerprint: "); ok {
			return fp
		}
	}
	t.Fatal("cctv keys show printed no fingerprint")
	return ""
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An export of a window partly before recording began says so, out loud,
// in the CLI and in the package.
func TestDaemon_Export_PartlyCovered_SaysWhy(t *testing.T) {
	b := newBox(t, "desk")
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "a segment", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 1
	})
	s := b.list(false).Cameras[0].Segments[0]
	out := t.TempDir()
	stdout := b.mustRun("export", "--camera", "desk", "--from", s.Start.Add(-30*time.Second).Format(time.RFC3339Nano), "--to", s.End.Format(time.RFC3339Nano),
		"--case", "PC-1", "--reason", "r", "--recipient", "PC 3 Test, Test Police", "--out", out)
	if !strings.Contains(stdout, "NOT COVERED: camera desk") || !strings.Contains(stdout, "before this camera's recording began") {
		t.Errorf("export output does not say what is not covered and why:\n%s", stdout)
	}
	pkgs, _ := filepath.Glob(filepath.Join(out, "PC-1_*"))
	if len(pkgs) != 1 {
		t.Fatalf("packages: %v", pkgs)
	}
	for _, f := range []string{"README.txt", "report.html", "manifest.json"} {
		if !strings.Contains(string(mustReadFile(t, filepath.Join(pkgs[0], f))), "before this camera") {
			t.Errorf("%s does not give the reason for the uncovered part", f)
		}
	}
}
