package main

import (
	"encoding/json"
	"fmt"
	"image"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/testutil"
)

// ssimOf crops the same region of the frame shown at wall time wall in a
// (whose first frame is shown at aStart) and in b (bStart), and returns
// their SSIM (luma) as ffmpeg's ssim filter measures it.
func ssimOf(t *testing.T, a string, aStart time.Time, b string, bStart time.Time, wall time.Time, x, y, w, h int) float64 {
	s, _, _ := crops(t, a, aStart, b, bStart, wall, x, y, w, h)
	return s
}

// detail is the largest luma range (max - min) inside any block×block cell
// of g (cells from its origin): 0 for a picture flat in every cell.
func detail(g *image.Gray, block int) int {
	worst := 0
	r := g.Bounds()
	for cy := r.Min.Y; cy < r.Max.Y; cy += block {
		for cx := r.Min.X; cx < r.Max.X; cx += block {
			lo, hi := 255, 0
			for y := cy; y < min(cy+block, r.Max.Y); y++ {
				for x := cx; x < min(cx+block, r.Max.X); x++ {
					v := int(g.GrayAt(x, y).Y)
					lo, hi = min(lo, v), max(hi, v)
				}
			}
			worst = max(worst, hi-lo)
		}
	}
	return worst
}

// crops is ssimOf that also returns the two crops.
func crops(t *testing.T, a string, aStart time.Time, b string, bStart time.Time, wall time.Time, x, y, w, h int) (float64, *image.Gray, *image.Gray) {
	t.Helper()
	// The frame's index: both are 25 frames a second from their first
	// frame (seeking with -ss is not frame-accurate in the masters).
	at := func(start time.Time) string {
		return strconv.Itoa(int((wall.Sub(start) + 20*time.Millisecond) / (40 * time.Millisecond)))
	}
	crop := fmt.Sprintf("crop=%d:%d:%d:%d,format=gray", w, h, x, y)
	dir := t.TempDir()
	grab := func(file string, start time.Time, png string) {
		out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", file, "-frames:v", "1", "-vf", "select=eq(n\\,"+at(start)+"),"+crop,
			filepath.Join(dir, png)).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Fatalf("ffmpeg crop of %s: %v: %s", file, err, out)
		}
	}
	grab(a, aStart, "a.png")
	grab(b, bStart, "b.png")
	load := func(png string) *image.Gray {
		f, err := os.Open(filepath.Join(dir, png))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, _, err := image.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		g, ok := img.(*image.Gray)
		if !ok {
			t.Fatalf("%s is %T, not grey", png, img)
		}
		return g
	}
	out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-i", filepath.Join(dir, "a.png"), "-i", filepath.Join(dir, "b.png"),
		"-lavfi", "ssim", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg ssim: %v: %s", err, out)
	}
	_, v, ok := strings.Cut(string(out), "SSIM Y:")
	if f := strings.Fields(v); ok && len(f) > 0 {
		s, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		return s, load("a.png"), load("b.png")
	}
	t.Fatalf("no SSIM in %s", out)
	return 0, nil, nil
}

// followSARReadme runs the Linux checks of a package's README.txt exactly
// as written there, and judges them as it says.
func followSARReadme(t *testing.T, pkg string) error {
	t.Helper()
	text := strings.ReplaceAll(string(mustReadFile(t, filepath.Join(pkg, "README.txt"))), "\r\n", "\n")
	_, linux, ok := strings.Cut(text, "\nHOW TO CHECK IT ON LINUX OR MACOS\n")
	if !ok {
		t.Fatal("README.txt has no Linux section")
	}
	linux, _, _ = strings.Cut(linux, "\n\n")
	var cmds []string
	mustSay := ""
	lines := strings.Split(linux, "\n")
	for i, l := range lines {
		cmd, ok := strings.CutPrefix(l, "      ")
		switch {
		case !ok:
		case strings.HasPrefix(cmd, "ssh-keygen ") || strings.HasPrefix(cmd, "sha256sum "):
			cmds = append(cmds, cmd)
		case strings.HasSuffix(lines[i-1], "It must print exactly:"):
			mustSay = cmd
		}
	}
	if len(cmds) != 2 || mustSay == "" {
		t.Fatalf("README.txt's steps: %q, %q", cmds, mustSay)
	}
	for _, c := range cmds {
		cmd := exec.Command("sh", "-c", c)
		cmd.Dir = pkg
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", c, err, out)
		}
		if strings.HasPrefix(c, "ssh-keygen") && strings.TrimSpace(string(out)) != mustSay {
			return fmt.Errorf("%s printed %q, not %q", c, out, mustSay)
		}
	}
	return nil
}

// A subject access request's footage is previewed with a grid to choose
// masks, then exported redacted for the data subject: the masked parts
// carry nothing of the original, the rest is the original apart from
// encoding, the package has no master, verifies (and fails once tampered
// with) by its README's own commands and by cctv verify, and the
// disclosure log lists it. A mask outside the picture is refused (exit 2).
func TestSAR_PreviewAndRedactedExport(t *testing.T) {
	b := newBox(t, "desk")
	d := b.startDaemon()
	running := true
	defer func() {
		if running {
			stopDaemon(t, d)
		}
	}()
	waitUntil(t, "a segment", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 1
	})
	seg := b.list(false).Cameras[0].Segments[0]
	from, to := seg.Start.Add(time.Second), seg.Start.Add(4*time.Second)
	open := func(ref string) {
		b.mustRun("sar", "open", "--ref", ref, "--subject", "woman in a green hat", "--received", time.Now().Add(-time.Hour).Format(time.RFC3339),
			"--camera", "desk", "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano))
	}
	open("SAR-1")

	// Preview: the default instants, a picture each, with its size.
	pv := t.TempDir()
	out := b.mustRun("sar", "preview", "SAR-1", "--mask", "0,0,96,64", "--out", pv)
	shots, _ := filepath.Glob(filepath.Join(pv, "preview_SAR-1_desk_*.jpg"))
	if len(shots) != 3 || !strings.Contains(out, "picture 320x240 pixels") {
		t.Fatalf("preview wrote %v:\n%s", shots, out)
	}
	views := 0
	for _, e := range b.auditEntries() {
		if e.Action == "view" && e.Params["kind"] == "sar-preview" && e.Params["reason"] == "subject access request SAR-1" {
			views++
		}
		if strings.HasPrefix(e.Action, "export") {
			t.Errorf("a preview was audited as %s", e.Action)
		}
	}
	if views != 1 {
		t.Errorf("%d sar-preview views audited, want 1", views)
	}
	if code, _, stderr := b.run("sar", "preview", "SAR-1", "--mask", "300,200,40,41", "--out", t.TempDir()); code != 2 ||
		!strings.Contains(stderr, "outside camera desk's picture of 320x240 pixels") {
		t.Errorf("preview with a mask outside the picture: exit %d: %s", code, stderr)
	}

	// A mask outside the picture: exit 2, nothing written, nothing disclosed.
	bad := t.TempDir()
	code, _, stderr := b.run("sar", "export", "SAR-1", "--mask", "250,0,80,10", "--contact", "DPO, dpo@example.org", "--out", bad)
	if code != 2 || !strings.Contains(stderr, "--mask 250,0,80,10 reaches 330,10, outside camera desk's picture of 320x240 pixels") {
		t.Errorf("export with a mask outside the picture: exit %d: %s", code, stderr)
	}
	if left, _ := os.ReadDir(bad); len(left) != 0 {
		t.Errorf("a refused export left %v", left)
	}

	// Solid: the digits band (top left) throughout, and a square for one second.
	sq0, sq1 := from.Add(time.Second), from.Add(2*time.Second)
	dir := t.TempDir()
	out = b.mustRun("sar", "export", "SAR-1", "--mask", "0,0,96,64",
		"--mask", "desk:200,100,64,64@"+sq0.Format(time.RFC3339Nano)+".."+sq1.Format(time.RFC3339Nano),
		"--stills", from.Add(1500*time.Millisecond).Format(time.RFC3339Nano), "--contact", "Data Protection Officer, dpo@example.org", "--out", dir)
	pkgs, _ := filepath.Glob(filepath.Join(dir, "SAR-1_box-1_*"))
	if len(pkgs) != 1 || !strings.Contains(out, "disclosure to the data subject recorded") {
		t.Fatalf("sar export wrote %v:\n%s", pkgs, out)
	}
	pkg := pkgs[0]
	checkSARPackage(t, b, pkg)
	video := filepath.Join(pkg, "video", "desk.mp4")
	var m export.Manifest
	if err := json.Unmarshal(mustReadFile(t, filepath.Join(pkg, "manifest.json")), &m); err != nil {
		t.Fatal(err)
	}
	var start time.Time
	for _, f := range m.Files {
		if f.Role == export.RoleRedacted {
			start = f.Derivation.Start
			if len(f.Derivation.Masters) == 0 || f.Derivation.Masters[0].SHA256 != seg.SHA256 {
				t.Errorf("derivation %+v does not name master %s by its hash", f.Derivation, seg.File)
			}
		}
	}
	master := seg.File
	inMask, redacted, orig := crops(t, video, start, master, seg.Start, sq0.Add(500*time.Millisecond), 0, 0, 96, 64)
	dr, do := detail(redacted, 96), detail(orig, 96)
	t.Logf("the masked digits: luma range %d in the copy, %d in the master", dr, do)
	if dr > 6 || do < 100 {
		t.Errorf("the masked digits: luma range %d in the copy (want flat), %d in the master", dr, do)
	}
	inTimed := ssimOf(t, video, start, master, seg.Start, sq0.Add(500*time.Millisecond), 200, 100, 64, 64)
	afterTimed := ssimOf(t, video, start, master, seg.Start, sq1.Add(500*time.Millisecond), 200, 100, 64, 64)
	outside := ssimOf(t, video, start, master, seg.Start, sq0.Add(500*time.Millisecond), 120, 80, 64, 120)
	t.Logf("SSIM against the master: digits mask %.3f, timed mask %.3f, same region after it %.3f, outside %.3f", inMask, inTimed, afterTimed, outside)
	// The digits band is mostly black in the master too, so its SSIM
	// against black says little (0.3 to 0.4): its flatness above is the
	// proof. The timed mask covers textured picture.
	if inTimed > 0.2 {
		t.Errorf("the timed mask resembles the original: SSIM %.3f", inTimed)
	}
	if outside < 0.9 || afterTimed < 0.9 {
		t.Errorf("unmasked regions differ from the original: SSIM %.3f and %.3f", outside, afterTimed)
	}

	// Pixelated, keeping only the top-left quarter.
	open("SAR-2")
	dir2 := t.TempDir()
	b.mustRun("sar", "export", "SAR-2", "--keep", "0,0,160,128", "--pixelate", "--contact", "DPO", "--out", dir2)
	pkgs, _ = filepath.Glob(filepath.Join(dir2, "SAR-2_box-1_*"))
	if len(pkgs) != 1 {
		t.Fatalf("sar export --pixelate wrote %v", pkgs)
	}
	checkSARPackage(t, b, pkgs[0])
	video = filepath.Join(pkgs[0], "video", "desk.mp4")
	kept := ssimOf(t, video, start, master, seg.Start, sq0, 16, 16, 128, 96)
	hidden, redacted, orig := crops(t, video, start, master, seg.Start, sq0, 176, 128, 128, 96)
	dr, do = detail(redacted, export.PixelBlock(240)), detail(orig, export.PixelBlock(240))
	t.Logf("pixelated: largest luma range in a block %d in the copy, %d in the master", dr, do)
	if dr > 12 || do < 40 {
		t.Errorf("outside the kept region: largest luma range in a block %d in the copy (want about flat), %d in the master", dr, do)
	}
	t.Logf("SSIM against the master, pixelated: kept %.3f, outside the kept region %.3f", kept, hidden)
	if kept < 0.9 || hidden > 0.8 {
		t.Errorf("pixelated --keep: kept region SSIM %.3f, hidden region %.3f", kept, hidden)
	}

	// With the daemon down, a supervisor who can read the store exports
	// directly, the same way.
	stopDaemon(t, d)
	running = false
	dir3 := t.TempDir()
	b.mustRun("sar", "export", "SAR-2", "--mask", "0,0,16,16", "--contact", "DPO", "--out", dir3)
	if pkgs, _ = filepath.Glob(filepath.Join(dir3, "SAR-2_box-1_*")); len(pkgs) != 1 {
		t.Fatalf("direct sar export wrote %v", pkgs)
	}
	checkSARPackage(t, b, pkgs[0])

	// The disclosure log lists all three, to the data subject.
	n := 0
	for _, e := range b.auditEntries() {
		if e.Action == "export" && e.Params["kind"] == "subject access" && strings.Contains(e.Params["recipient"], "data subject") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d subject access disclosures in the audit log, want 3", n)
	}
	if log := b.mustRun("audit", "list", "--action", "export"); !strings.Contains(log, "SAR-1") || !strings.Contains(log, "SAR-2") {
		t.Errorf("disclosure log:\n%s", log)
	}

	// Tampered with: the README's commands and cctv verify fail.
	if err := os.WriteFile(filepath.Join(pkg, "video", "desk.mp4"), append(mustReadFile(t, filepath.Join(pkg, "video", "desk.mp4")), 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := followSARReadme(t, pkg); err == nil {
		t.Error("the README's checks pass a tampered package")
	}
	if code, out, _ := b.run("verify", pkg, "--fingerprint", boxFingerprint(t, b)); code != 1 {
		t.Errorf("cctv verify of a tampered package: exit %d\n%s", code, out)
	}
}

// checkSARPackage checks what every subject access package must be.
func checkSARPackage(t *testing.T, b *box, pkg string) {
	t.Helper()
	_ = filepath.WalkDir(pkg, func(p string, _ os.DirEntry, _ error) error {
		if strings.HasSuffix(p, ".ts") || strings.Contains(p, "master") {
			t.Errorf("a subject access package holds %s", p)
		}
		return nil
	})
	video := filepath.Join(pkg, "video", "desk.mp4")
	testutil.Decode(t, video)
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", video, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("ffmpeg -v error on %s: %v: %s", video, err, out)
	}
	if err := followSARReadme(t, pkg); err != nil {
		t.Errorf("README.txt's checks: %v", err)
	}
	b.mustRun("verify", pkg, "--fingerprint", boxFingerprint(t, b))
	readme := string(mustReadFile(t, filepath.Join(pkg, "README.txt")))
	for _, want := range []string{"WHAT HAS BEEN OBSCURED, AND WHY", "HOW TO PLAY IT", "WHOM TO CONTACT", "data-protection officer"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.txt lacks %q", want)
		}
	}
	if strings.Contains(readme, "green hat") || strings.Contains(string(mustReadFile(t, filepath.Join(pkg, "manifest.json"))), "green hat") {
		t.Error("the package repeats the staff's description of the person")
	}
}

// The reference comes first and the flags after it; anything else is a
// usage error (exit 2) that says what to type, before the daemon is asked.
func TestSAR_ExportArguments(t *testing.T) {
	b := newBox(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no reference", []string{"sar", "export", "--out", "/tmp"}, "give the request's reference"},
		{"flags on both sides", []string{"sar", "export", "--pixelate", "SAR-1", "--out", "/tmp"}, "give the flags after the reference"},
		{"unknown flag", []string{"sar", "export", "SAR-1", "--blur"}, "flag provided but not defined: -blur"},
		{"no contact", []string{"sar", "export", "SAR-1", "--out", t.TempDir()}, "whom to contact"},
		{"bad mask", []string{"sar", "preview", "SAR-1", "--mask", "1,2,3", "--out", t.TempDir()}, "a region is X,Y,W,H"},
		{"no out", []string{"sar", "preview", "SAR-1"}, "this needs --out DIR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := b.run(tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}
