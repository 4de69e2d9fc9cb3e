package export_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/boxkey"
)

// copyPackage copies pkg into a fresh directory for one tampering.
func copyPackage(t *testing.T, pkg string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("cp", "-a", pkg, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

func mustWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resign rewrites manifest.json from m, signs it with key (and puts key in
// allowed_signers) and regenerates SHA256SUMS, as a forger would.
func resign(t *testing.T, pkg string, m *export.Manifest, key *boxkey.Key) {
	t.Helper()
	if key != nil {
		m.KeyFingerprint = key.Fingerprint()
		mustWrite(t, filepath.Join(pkg, "allowed_signers"), []byte(key.AllowedSigners(boxID, export.Namespace)+"\n"))
		for i, f := range m.Files {
			if f.Path == "allowed_signers" {
				m.Files[i].Size, m.Files[i].SHA256 = int64(len(mustRead(t, filepath.Join(pkg, f.Path)))), fileHash(t, filepath.Join(pkg, f.Path))
			}
		}
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(pkg, "manifest.json"), b)
	if key != nil {
		sig, err := key.Sign(export.Namespace, b)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(pkg, "manifest.json.sig"), sig)
	}
	rehash(t, pkg)
	if key != nil {
		sig, err := key.Sign(export.Namespace, mustRead(t, filepath.Join(pkg, "SHA256SUMS")))
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(pkg, "SHA256SUMS.sig"), sig)
	}
}

// rehash regenerates SHA256SUMS with sha256sum itself.
func rehash(t *testing.T, pkg string) {
	t.Helper()
	out := run(t, pkg, "sh", "-c", "find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig | sed 's|^./||' | LC_ALL=C sort | xargs sha256sum")
	mustWrite(t, filepath.Join(pkg, "SHA256SUMS"), []byte(out))
}

func problemFiles(rep export.Report) []string {
	var fs []string
	for _, p := range rep.Problems {
		fs = append(fs, p.File)
	}
	return fs
}

func TestVerify_Tampering(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 3)
	r := f.request(t0.Add(time.Second), t0.Add(11*time.Second), "front-desk")
	r.Stills = []time.Time{t0.Add(6 * time.Second)}
	pkg, err := export.Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(pkg, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(pkg, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	m := readManifest(t, pkg)
	var masters []string
	for _, fl := range m.Files {
		if fl.Role == export.RoleMaster {
			masters = append(masters, fl.Path)
		}
	}
	other, err := boxkey.Init(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}

	type tc struct {
		name   string
		tamper func(t *testing.T, pkg string)
		want   string // a file the report must name
		opts   export.VerifyOptions
	}
	var cases []tc
	for _, rel := range files {
		cases = append(cases,
			tc{"flip/" + rel, func(t *testing.T, pkg string) {
				p := filepath.Join(pkg, rel)
				b := mustRead(t, p)
				b[len(b)/2] ^= 0x01
				mustWrite(t, p, b)
			}, rel, export.VerifyOptions{}},
			tc{"truncate/" + rel, func(t *testing.T, pkg string) {
				p := filepath.Join(pkg, rel)
				mustWrite(t, p, mustRead(t, p)[:len(mustRead(t, p))/2])
			}, rel, export.VerifyOptions{}},
			tc{"delete/" + rel, func(t *testing.T, pkg string) {
				if err := os.Remove(filepath.Join(pkg, rel)); err != nil {
					t.Fatal(err)
				}
			}, rel, export.VerifyOptions{}},
		)
	}
	cases = append(cases,
		tc{"extra-file", func(t *testing.T, pkg string) {
			mustWrite(t, filepath.Join(pkg, "video", "extra.mp4"), []byte("x"))
		}, "video/extra.mp4", export.VerifyOptions{}},
		tc{"swap-masters", func(t *testing.T, pkg string) {
			a, b := filepath.Join(pkg, masters[0]), filepath.Join(pkg, masters[1])
			ab, bb := mustRead(t, a), mustRead(t, b)
			mustWrite(t, a, bb)
			mustWrite(t, b, ab)
		}, masters[1], export.VerifyOptions{}},
		tc{"edit-manifest-rehash-unsigned", func(t *testing.T, pkg string) {
			m := readManifest(t, pkg)
			m.Recipient = "Someone Else"
			resign(t, pkg, m, nil)
		}, "manifest.json", export.VerifyOptions{}},
		tc{"resigned-other-key", func(t *testing.T, pkg string) {
			resign(t, pkg, readManifest(t, pkg), other)
		}, "seals/front-desk/" + strings.TrimSuffix(filepath.Base(masters[0]), ".ts") + ".json", export.VerifyOptions{}},
		tc{"resigned-other-key-fingerprint", func(t *testing.T, pkg string) {
			resign(t, pkg, readManifest(t, pkg), other)
		}, "allowed_signers", export.VerifyOptions{Fingerprint: f.key.Fingerprint()}},
		tc{"middle-master-removed-resigned", func(t *testing.T, pkg string) {
			m := readManifest(t, pkg)
			mid := masters[1]
			var seal string
			for _, fl := range m.Files {
				if fl.Path == mid {
					seal = fl.Seal
				}
			}
			var keep []export.File
			for _, fl := range m.Files {
				if fl.Path != mid && fl.Path != seal {
					keep = append(keep, fl)
				}
			}
			m.Files = keep
			for i := range m.Files {
				if d := m.Files[i].Derivation; d != nil {
					d.From = slices.DeleteFunc(d.From, func(s string) bool { return s == mid })
				}
			}
			for _, p := range []string{mid, seal} {
				if err := os.Remove(filepath.Join(pkg, p)); err != nil {
					t.Fatal(err)
				}
			}
			resign(t, pkg, m, f.key)
		}, masters[2], export.VerifyOptions{}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := copyPackage(t, pkg)
			c.tamper(t, p)
			rep, err := export.Verify(p, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("tampered package verified")
			}
			if !slices.Contains(problemFiles(rep), c.want) {
				t.Errorf("report does not name %s: %v", c.want, rep.Problems)
			}
			if strings.HasPrefix(c.name, "middle-master") {
				if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].What, "seal chain broken") {
					t.Errorf("want only the chain break reported: %v", rep.Problems)
				}
			}
		})
	}
	t.Run("untouched", func(t *testing.T) {
		rep, err := export.Verify(copyPackage(t, pkg), export.VerifyOptions{Fingerprint: f.key.Fingerprint()})
		if err != nil || !rep.OK() {
			t.Fatalf("%v %v", err, rep.Problems)
		}
	})
}
