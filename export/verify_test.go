package export_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/export"
	"github.com/council/cctv/export/evidence"
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

// otherFile returns the file of the other package that stands in for rel:
// the same path if it exists there, else the first file of the same role,
// and it must differ from the original.
func otherFile(t *testing.T, pkg, other, rel string) []byte {
	t.Helper()
	orig := mustRead(t, filepath.Join(pkg, rel))
	if b, err := os.ReadFile(filepath.Join(other, rel)); err == nil && !bytes.Equal(b, orig) {
		return b
	}
	role := ""
	for _, f := range readManifest(t, pkg).Files {
		if f.Path == rel {
			role = f.Role
		}
	}
	for _, f := range readManifest(t, other).Files {
		if f.Role == role && role != "" {
			if b := mustRead(t, filepath.Join(other, f.Path)); !bytes.Equal(b, orig) {
				return b
			}
		}
	}
	t.Fatalf("no file in the other package differs from %s", rel)
	return nil
}

// TestVerify_Tampering: every file of a package × (flip a byte, truncate,
// delete, replace with another package's file), and whole-package forgeries.
// Verify with the registered fingerprint rejects each, naming the file and
// the class of failure; the genuine package passes with the fingerprint and
// is "intact, signer not checked" without it.
func TestVerify_Tampering(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 3)
	r := f.request(t0.Add(time.Second), t0.Add(11*time.Second), "front-desk")
	r.Stills = []time.Time{t0.Add(6 * time.Second)}
	pkg, err := export.Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	// Another box with the same box id: a forger's.
	g := newFixture(t)
	g.record("front-desk", t0, 5)
	r2 := g.request(t0.Add(12*time.Second), t0.Add(19*time.Second), "front-desk")
	r2.Stills = []time.Time{t0.Add(13 * time.Second)}
	other, err := export.Build(t.Context(), r2)
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
	if len(files) < 16 {
		t.Fatalf("package holds only %v", files)
	}
	m := readManifest(t, pkg)
	var masters []string
	for _, fl := range m.Files {
		if fl.Role == export.RoleMaster {
			masters = append(masters, fl.Path)
		}
	}
	fp := export.VerifyOptions{Fingerprint: f.key.Fingerprint()}

	type tc struct {
		name   string
		tamper func(t *testing.T, pkg string)
		want   string // a file the report must name
		kinds  []string
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
			}, rel, []string{evidence.KindAltered, evidence.KindSignature, evidence.KindMalformed}, fp},
			tc{"truncate/" + rel, func(t *testing.T, pkg string) {
				p := filepath.Join(pkg, rel)
				mustWrite(t, p, mustRead(t, p)[:len(mustRead(t, p))/2])
			}, rel, []string{evidence.KindAltered, evidence.KindSignature, evidence.KindMalformed}, fp},
			tc{"delete/" + rel, func(t *testing.T, pkg string) {
				if err := os.Remove(filepath.Join(pkg, rel)); err != nil {
					t.Fatal(err)
				}
			}, rel, []string{evidence.KindMissing}, fp},
			tc{"replace/" + rel, func(t *testing.T, pkg string) {
				mustWrite(t, filepath.Join(pkg, rel), otherFile(t, pkg, other, rel))
			}, rel, []string{evidence.KindAltered, evidence.KindSignature}, fp},
		)
	}
	cases = append(cases,
		tc{"extra-file", func(t *testing.T, pkg string) {
			mustWrite(t, filepath.Join(pkg, "video", "extra.mp4"), []byte("x"))
		}, "video/extra.mp4", []string{evidence.KindExtra}, fp},
		tc{"swap-masters", func(t *testing.T, pkg string) {
			a, b := filepath.Join(pkg, masters[0]), filepath.Join(pkg, masters[1])
			ab, bb := mustRead(t, a), mustRead(t, b)
			mustWrite(t, a, bb)
			mustWrite(t, b, ab)
		}, masters[1], []string{evidence.KindAltered}, fp},
		tc{"edit-manifest-rehash-unsigned", func(t *testing.T, pkg string) {
			m := readManifest(t, pkg)
			m.Recipient = "Someone Else"
			resign(t, pkg, m, nil)
		}, "manifest.json", []string{evidence.KindSignature}, fp},
		tc{"resigned-other-key-same-box", func(t *testing.T, pkg string) {
			resign(t, pkg, readManifest(t, pkg), g.key)
		}, "allowed_signers", []string{evidence.KindSigner}, fp},
		tc{"resigned-other-key-same-box-no-fingerprint", func(t *testing.T, pkg string) {
			resign(t, pkg, readManifest(t, pkg), g.key) // the seals still carry the box's signatures
		}, "seals/front-desk/" + strings.TrimSuffix(filepath.Base(masters[0]), ".ts") + ".json", []string{evidence.KindSeal}, export.VerifyOptions{}},
		tc{"other-box-package-whole", func(t *testing.T, pkg string) {
			if err := os.RemoveAll(pkg); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("cp", "-a", other, pkg).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
		}, "allowed_signers", []string{evidence.KindSigner}, fp},
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
		}, masters[2], []string{evidence.KindChain}, fp},
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
			named := false
			for _, pr := range rep.Problems {
				named = named || pr.File == c.want && slices.Contains(c.kinds, pr.Kind)
			}
			if !named {
				t.Errorf("report does not name %s as %v: %v", c.want, c.kinds, rep.Problems)
			}
			if strings.HasPrefix(c.name, "middle-master") {
				if len(rep.Problems) != 1 || rep.Problems[0].Kind != evidence.KindChain {
					t.Errorf("want only the chain break reported: %v", rep.Problems)
				}
			}
		})
	}
	t.Run("genuine", func(t *testing.T) {
		p := copyPackage(t, pkg)
		rep, err := export.Verify(p, fp)
		if err != nil || !rep.OK() || !rep.SignerChecked {
			t.Fatalf("with the fingerprint: %v %v signer checked %v", err, rep.Problems, rep.SignerChecked)
		}
		if rep.Audit == nil || len(rep.Audit.Entries) != 1 {
			t.Errorf("audit proof not checked: %+v", rep.Audit)
		}
		rep, err = export.Verify(p, export.VerifyOptions{})
		if err != nil || !rep.OK() || rep.SignerChecked {
			t.Fatalf("without: %v %v signer checked %v", err, rep.Problems, rep.SignerChecked)
		}
		signers, err := evidence.ParseAllowedSigners([]byte("# police register\nother-box " + g.key.AuthorizedKey() + "\n" +
			f.key.AllowedSigners("kid-*", export.Namespace) + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err = export.Verify(p, export.VerifyOptions{AllowedSigners: signers})
		if err != nil || !rep.OK() || !rep.SignerChecked {
			t.Fatalf("with allowed signers: %v %v signer checked %v", err, rep.Problems, rep.SignerChecked)
		}
		wrong, _ := evidence.ParseAllowedSigners([]byte(g.key.AllowedSigners(boxID) + "\n" + f.key.AllowedSigners("other-box") + "\n"))
		rep, _ = export.Verify(p, export.VerifyOptions{AllowedSigners: wrong})
		if rep.OK() || rep.SignerChecked {
			t.Errorf("allowed signers that trust another key for this box, and this key for another: %v", rep.Problems)
		}
	})
}
