package export_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/testutil"
)

// readmeSteps are the checks README.txt tells a recipient on Linux to run,
// parsed out of the file itself: the commands (indented six spaces in the
// Linux section) and the line ssh-keygen "must print exactly".
type readmeSteps struct {
	commands []string
	mustSay  string
}

func parseReadme(t *testing.T, pkg string) readmeSteps {
	t.Helper()
	text := strings.ReplaceAll(string(mustRead(t, filepath.Join(pkg, "README.txt"))), "\r\n", "\n")
	_, linux, ok := strings.Cut(text, "\nHOW TO CHECK IT ON LINUX OR MACOS\n")
	if !ok {
		t.Fatal("README.txt has no Linux section")
	}
	linux, _, _ = strings.Cut(linux, "\n\n")
	var s readmeSteps
	lines := strings.Split(linux, "\n")
	for i, l := range lines {
		cmd, ok := strings.CutPrefix(l, "      ")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(cmd, "ssh-keygen ") || strings.HasPrefix(cmd, "sha256sum "):
			s.commands = append(s.commands, cmd)
		case i > 0 && strings.HasSuffix(lines[i-1], "It must print exactly:"):
			s.mustSay = cmd
		}
	}
	if len(s.commands) != 2 || s.mustSay == "" {
		t.Fatalf("README.txt's Linux steps: commands %q, expected output %q", s.commands, s.mustSay)
	}
	return s
}

// followReadme runs the README's commands in dir exactly as written (in a
// shell, for the "<"), and judges them as the README says: ssh-keygen must
// print the given line, sha256sum must print only ": OK" lines and exit 0.
func followReadme(s readmeSteps, dir string) error {
	for _, c := range s.commands {
		cmd := exec.Command("sh", "-c", c)
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			return fmt.Errorf("%s: %v: %s%s", c, err, stdout.String(), stderr.String())
		}
		if strings.HasPrefix(c, "ssh-keygen") {
			if got := strings.TrimSpace(stdout.String() + stderr.String()); got != s.mustSay {
				return fmt.Errorf("%s printed %q, README.txt says it must print %q", c, got, s.mustSay)
			}
			continue
		}
		if stderr.Len() > 0 {
			return fmt.Errorf("%s warned: %s", c, stderr.String())
		}
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			if !strings.HasSuffix(l, ": OK") {
				return fmt.Errorf("%s: line %q does not end in \": OK\"", c, l)
			}
		}
	}
	return nil
}

// sumsLine recomputes path's line in dir's SHA256SUMS, as a forger would.
func recomputeSumsLine(t *testing.T, dir, path string) {
	t.Helper()
	out := run(t, dir, "sha256sum", path)
	var b strings.Builder
	for _, l := range strings.SplitAfter(string(mustRead(t, filepath.Join(dir, "SHA256SUMS"))), "\n") {
		if strings.HasSuffix(strings.TrimSuffix(l, "\n"), "  "+path) {
			l = out
		}
		b.WriteString(l)
	}
	mustWrite(t, filepath.Join(dir, "SHA256SUMS"), []byte(b.String()))
}

// dropSumsLines removes the lines of files under prefixes from SHA256SUMS.
func dropSumsLines(t *testing.T, dir string, prefixes ...string) {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.SplitAfter(string(mustRead(t, filepath.Join(dir, "SHA256SUMS"))), "\n") {
		drop := false
		for _, p := range prefixes {
			drop = drop || strings.Contains(l, "  "+p)
		}
		if !drop {
			b.WriteString(l)
		}
	}
	mustWrite(t, filepath.Join(dir, "SHA256SUMS"), []byte(b.String()))
}

// TestReadme_FollowedLiterally checks a package the way an officer does
// with nothing but README.txt, OpenSSH, coreutils and unzip: a genuine
// package (directory, and a zip unpacked with unzip) passes; the forgeries
// that the manifest-only check of old let through all fail.
func TestReadme_FollowedLiterally(t *testing.T) {
	testutil.NeedTools(t, "ssh-keygen", "sha256sum", "unzip", "zip")
	f := newFixture(t)
	f.record("front-desk", t0, 3)
	r := f.request(t0.Add(time.Second), t0.Add(11*time.Second), "front-desk")
	r.Stills = []time.Time{t0.Add(6 * time.Second)}
	pkg, err := export.Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	// Another package of the same box: the forger's source of genuine files.
	r2 := f.request(t0.Add(4*time.Second), t0.Add(12*time.Second), "front-desk")
	r2.Case = "OTHER-1"
	other, err := export.Build(t.Context(), r2)
	if err != nil {
		t.Fatal(err)
	}
	steps := parseReadme(t, pkg)
	if !strings.Contains(steps.commands[0], "SHA256SUMS.sig < SHA256SUMS") || steps.commands[1] != "sha256sum --strict -c SHA256SUMS" {
		t.Errorf("README.txt's commands: %q", steps.commands)
	}
	if want := `Good "cctv-evidence" signature for ` + boxID + ` with ED25519 key ` + f.key.Fingerprint(); steps.mustSay != want {
		t.Errorf("README.txt says ssh-keygen prints %q, want %q", steps.mustSay, want)
	}

	t.Run("genuine", func(t *testing.T) {
		if err := followReadme(steps, copyPackage(t, pkg)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("genuine-zip-unzipped", func(t *testing.T) {
		dir := t.TempDir()
		zipPath := filepath.Join(dir, "p.zip")
		run(t, filepath.Dir(pkg), "zip", "-qr", zipPath, filepath.Base(pkg))
		run(t, dir, "unzip", "-q", zipPath)
		if err := followReadme(steps, filepath.Join(dir, filepath.Base(pkg))); err != nil {
			t.Fatal(err)
		}
	})

	master := readManifest(t, pkg).Files[0].Path
	for _, fl := range readManifest(t, pkg).Files {
		if fl.Role == export.RoleMaster {
			master = fl.Path
			break
		}
	}
	video := "video/front-desk.mp4"
	forgeries := []struct {
		name   string
		forge  func(t *testing.T, dir string)
		failAt string // which README step must catch it
	}{
		{"master-altered-sums-line-recomputed", func(t *testing.T, dir string) {
			p := filepath.Join(dir, master)
			b := mustRead(t, p)
			b[len(b)/2] ^= 0x01
			mustWrite(t, p, b)
			recomputeSumsLine(t, dir, master)
		}, "ssh-keygen"},
		{"sums-truncated-files-deleted", func(t *testing.T, dir string) {
			lines := strings.SplitAfter(string(mustRead(t, filepath.Join(dir, "SHA256SUMS"))), "\n")
			mustWrite(t, filepath.Join(dir, "SHA256SUMS"), []byte(strings.Join(lines[:3], "")))
			for _, d := range []string{"master", "video", "stills"} {
				if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
					t.Fatal(err)
				}
			}
		}, "ssh-keygen"},
		{"working-copy-replaced", func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, video), mustRead(t, filepath.Join(other, video)))
		}, "sha256sum"},
		{"working-copy-replaced-sums-line-recomputed", func(t *testing.T, dir string) {
			mustWrite(t, filepath.Join(dir, video), mustRead(t, filepath.Join(other, video)))
			recomputeSumsLine(t, dir, video)
		}, "ssh-keygen"},
		{"files-deleted-lines-removed", func(t *testing.T, dir string) {
			for _, d := range []string{"stills", "video"} {
				if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
					t.Fatal(err)
				}
			}
			dropSumsLines(t, dir, "stills/", "video/")
		}, "ssh-keygen"},
		{"files-deleted-lines-kept", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, master)); err != nil {
				t.Fatal(err)
			}
		}, "sha256sum"},
		{"sums-and-signature-from-another-package", func(t *testing.T, dir string) {
			for _, n := range []string{"SHA256SUMS", "SHA256SUMS.sig"} {
				mustWrite(t, filepath.Join(dir, n), mustRead(t, filepath.Join(other, n)))
			}
		}, "sha256sum"},
	}
	for _, fg := range forgeries {
		t.Run(fg.name, func(t *testing.T) {
			dir := copyPackage(t, pkg)
			fg.forge(t, dir)
			err := followReadme(steps, dir)
			if err == nil {
				t.Fatal("README.txt's steps accept the forgery")
			}
			if !strings.HasPrefix(err.Error(), fg.failAt) {
				t.Errorf("caught by %v, want by %s", err, fg.failAt)
			}
		})
	}
}

// TestReadme_WindowsRoute checks the Windows steps of README.txt. Debian
// has no PowerShell (pwsh is not packaged), so the PowerShell loop cannot
// run here; instead the test pins its text (reviewed: it splits each
// SHA256SUMS line at the two spaces sha256sum writes, hashes the file with
// Get-FileHash -LiteralPath, which accepts the forward slashes of the
// listed paths, and compares with -eq, which ignores the case of the hex
// digits) and re-does its logic in Go on a package with one altered file,
// which must give exactly one FAILED line. When pwsh is installed, the
// loop itself runs and must print the same.
func TestReadme_WindowsRoute(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 2)
	pkg, err := export.Build(t.Context(), f.request(t0, t0.Add(6*time.Second), "front-desk"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(mustRead(t, filepath.Join(pkg, "README.txt"))), "\r\n", "\n")
	_, win, ok := strings.Cut(text, "\nHOW TO CHECK IT ON WINDOWS\n")
	if !ok {
		t.Fatal("README.txt has no Windows section")
	}
	wantCmd := `      cmd /c "ssh-keygen -Y verify -f allowed_signers -I ` + boxID + ` -n cctv-evidence -s SHA256SUMS.sig < SHA256SUMS"`
	wantPS := `      Get-Content SHA256SUMS | ForEach-Object { $h, $f = $_ -split '  ', 2; if ((Get-FileHash -Algorithm SHA256 -LiteralPath $f).Hash -eq $h) { "OK      $f" } else { "FAILED  $f" } }`
	for _, want := range []string{wantCmd, wantPS, "OpenSSH 8.1 or later"} {
		if !strings.Contains(win, want) {
			t.Errorf("README.txt's Windows section lacks %q", want)
		}
	}
	dir := copyPackage(t, pkg)
	mustWrite(t, filepath.Join(dir, "video/front-desk.mp4"), []byte("not the video"))
	psLoop := func() []string { // the PowerShell loop's logic, line for line
		var out []string
		for _, l := range strings.Split(strings.TrimSuffix(string(mustRead(t, filepath.Join(dir, "SHA256SUMS"))), "\n"), "\n") {
			h, file, _ := strings.Cut(l, "  ")
			if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file))); err == nil && strings.EqualFold(sha256hex(b), h) {
				out = append(out, "OK      "+file)
			} else {
				out = append(out, "FAILED  "+file)
			}
		}
		return out
	}()
	failed := regexp.MustCompile(`(?m)^FAILED`).FindAllString(strings.Join(psLoop, "\n"), -1)
	if len(failed) != 1 || !strings.Contains(strings.Join(psLoop, "\n"), "FAILED  video/front-desk.mp4") {
		t.Errorf("the loop's logic gives %q", psLoop)
	}
	if _, err := exec.LookPath("pwsh"); err == nil {
		cmd := exec.Command("pwsh", "-NoProfile", "-Command", strings.TrimSpace(wantPS))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != strings.Join(psLoop, "\n") {
			t.Errorf("pwsh: %v\n%s", err, out)
		}
	} else if !errors.Is(err, exec.ErrNotFound) {
		t.Fatal(err)
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
