package export_test

import (
	"bytes"
	"errors"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/export"
)

func TestParseMask(t *testing.T) {
	day := t0 // 14:00 UTC, GMT in November
	cases := []struct {
		name, in string
		want     export.Mask
		err      string
	}{
		{name: "whole window", in: "10,20,30,40", want: export.Mask{X: 10, Y: 20, W: 30, H: 40}},
		{name: "one camera", in: "desk:0,0,16,16", want: export.Mask{Camera: "desk", W: 16, H: 16}},
		{name: "times of day", in: "1,2,3,4@14:05-14:06:30", want: export.Mask{X: 1, Y: 2, W: 3, H: 4,
			From: t0.Add(5 * time.Minute), To: t0.Add(6*time.Minute + 30*time.Second)}},
		{name: "full times", in: "1,2,3,4@2026-11-22T14:05:00Z..2026-11-22 14:07", want: export.Mask{X: 1, Y: 2, W: 3, H: 4,
			From: t0.Add(5 * time.Minute), To: t0.Add(7 * time.Minute)}},
		{name: "three numbers", in: "1,2,3", err: "a region is X,Y,W,H"},
		{name: "negative", in: "-1,2,3,4", err: "not a number of pixels"},
		{name: "empty", in: "1,2,0,4", err: "at least 1 pixel"},
		{name: "backwards", in: "1,2,3,4@14:06-14:05", err: "end time must be after"},
		{name: "no separator", in: "1,2,3,4@14:06", err: "give the times as"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := export.ParseMask(tc.in, false, day, london)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Camera != tc.want.Camera || got.X != tc.want.X || got.Y != tc.want.Y || got.W != tc.want.W || got.H != tc.want.H ||
				!got.From.Equal(tc.want.From) || !got.To.Equal(tc.want.To) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCheckMasks_Outside(t *testing.T) {
	ms := []export.Mask{{X: 0, Y: 0, W: 320, H: 240}, {Camera: "other", X: 300, W: 100, H: 1}, {X: 310, Y: 230, W: 11, H: 10}, {Keep: true, X: 0, Y: 200, W: 10, H: 41}}
	err := export.CheckMasks(ms, "desk", 320, 240)
	if !errors.Is(err, export.ErrMaskOutside) || strings.Count(err.Error(), "\n") != 1 ||
		!strings.Contains(err.Error(), "--mask 310,230,11,10 reaches 321,240") || !strings.Contains(err.Error(), "--keep 0,200,10,41") {
		t.Errorf("err %v", err)
	}
}

// sarRequest is f.request as a subject access request.
func (f *fixture) sarRequest(from, to time.Time, masks ...export.Mask) export.SARRequest {
	r := f.request(from, to, "front-desk")
	r.Case, r.Reason, r.Recipient, r.Exhibit = "SAR-2026-014", "subject access request SAR-2026-014", "the data subject", ""
	return export.SARRequest{Request: r, Received: t0, Due: t0.AddDate(0, 1, 0), Masks: masks, Contact: "DPO, dpo@example.org"}
}

// A subject access package verifies like an evidence package, holds no
// master, and Verify rejects one that carries a master, has lost its
// request, or names a master its seal does not describe, even re-signed
// by the box's own key.
func TestBuildSAR_VerifiesAndRefusesMasters(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 2)
	r := f.sarRequest(t0.Add(time.Second), t0.Add(3*time.Second), export.Mask{X: 0, Y: 0, W: 96, H: 64})
	r.Stills = []time.Time{t0.Add(2 * time.Second)}
	pkg, err := export.BuildSAR(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	opts := export.VerifyOptions{Fingerprint: f.key.Fingerprint()}
	rep, err := export.Verify(pkg, opts)
	if err != nil || !rep.OK() || !rep.SignerChecked || rep.Masters != 0 {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
	// The static verifier a recipient runs accepts it too, and says what it is.
	code, stdout, stderr := runVerifier(t, pkg, "--fingerprint", f.key.Fingerprint())
	if code != 0 || !strings.Contains(stdout, "OK: subject access package SAR-2026-014") || !strings.Contains(stdout, "redacted copies of 1 sealed recordings (not included)") {
		t.Errorf("cctv-verify: exit %d\n%s%s", code, stdout, stderr)
	}
	m := readManifest(t, pkg)
	if m.Format != export.FormatSAR || m.SubjectAccess == nil || m.SubjectAccess.Ref != "SAR-2026-014" || len(m.SubjectAccess.Masks) != 1 {
		t.Errorf("manifest %+v", m)
	}
	roles := map[string]int{}
	for _, fl := range m.Files {
		roles[fl.Role]++
	}
	if roles[export.RoleMaster] != 0 || roles[export.RoleWorkingCopy] != 0 || roles[export.RoleRedacted] != 1 || roles[export.RoleStill] != 1 || roles[export.RoleSeal] != 1 {
		t.Errorf("roles %v", roles)
	}
	if ents, _ := os.ReadDir(f.out); len(ents) != 1 {
		t.Errorf("out holds %d entries, want the package only (no scratch copies of masters)", len(ents))
	}
	seg := r.Cameras[0].Segments[0]
	cases := []struct {
		name  string
		forge func(t *testing.T, pkg string, m *export.Manifest)
		file  string
		kind  string
	}{
		{name: "a master added", file: "master/front-desk/" + filepath.Base(seg.File), kind: "malformed", forge: func(t *testing.T, pkg string, m *export.Manifest) {
			rel := "master/front-desk/" + filepath.Base(seg.File)
			if err := os.MkdirAll(filepath.Join(pkg, "master", "front-desk"), 0o755); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(pkg, rel), mustRead(t, seg.Path))
			m.Files = append(m.Files, export.File{Path: rel, Role: export.RoleMaster, Camera: "front-desk", Size: seg.Bytes, SHA256: seg.SHA256, Seal: m.Files[slices.IndexFunc(m.Files, func(f export.File) bool { return f.Role == export.RoleSeal })].Path})
			slices.SortFunc(m.Files, func(a, b export.File) int { return strings.Compare(a.Path, b.Path) })
		}},
		{name: "request removed", file: "manifest.json", kind: "malformed", forge: func(t *testing.T, pkg string, m *export.Manifest) {
			m.SubjectAccess = nil
		}},
		{name: "derivation names another master", file: "video/front-desk.mp4", kind: "seal", forge: func(t *testing.T, pkg string, m *export.Manifest) {
			for i := range m.Files {
				if d := m.Files[i].Derivation; d != nil && len(d.Masters) > 0 {
					d.Masters[0].SHA256 = strings.Repeat("0", 64)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := copyPackage(t, pkg)
			m := readManifest(t, p)
			tc.forge(t, p, m)
			resign(t, p, m, f.key)
			rep, err := export.Verify(p, opts)
			if err != nil {
				t.Fatal(err)
			}
			if code, _, _ := runVerifier(t, p, "--fingerprint", f.key.Fingerprint()); code != 1 {
				t.Errorf("cctv-verify of the forgery: exit %d, want 1", code)
			}
			found := false
			for _, pr := range rep.Problems {
				found = found || (pr.File == tc.file && pr.Kind == tc.kind)
			}
			if rep.OK() || !found {
				t.Errorf("problems %+v, want %s on %s", rep.Problems, tc.kind, tc.file)
			}
		})
	}

	// A mask outside the picture: nothing is left.
	r2 := f.sarRequest(t0.Add(time.Second), t0.Add(3*time.Second), export.Mask{X: 300, Y: 0, W: 21, H: 10})
	r2.OutDir = t.TempDir()
	if _, err := export.BuildSAR(t.Context(), r2); !errors.Is(err, export.ErrMaskOutside) {
		t.Errorf("err %v, want ErrMaskOutside", err)
	}
	if ents, _ := os.ReadDir(r2.OutDir); len(ents) != 0 {
		t.Errorf("a failed build left %d entries", len(ents))
	}
}

// A preview shows the picture with the masks applied and outlined, a grid,
// and a caption saying it is not for disclosure; a mask outside the picture
// is refused.
func TestPreviewJPEG_GridAndMasks(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 1)
	segs, err := f.st.Segments("front-desk", t0, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r := export.PreviewRequest{BoxID: boxID, Location: london, Camera: "front-desk", Segment: segs[0], At: t0.Add(time.Second),
		Masks: []export.Mask{{X: 20, Y: 20, W: 100, H: 60}, {Keep: true, X: 0, Y: 0, W: 200, H: 200}}}
	jpg, when, w, h, err := export.PreviewJPEG(t.Context(), r)
	if err != nil || w != 320 || h != 240 || !when.Equal(t0.Add(time.Second)) {
		t.Fatalf("preview: %v, %dx%d at %s", err, w, h, when)
	}
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("CCTV_KEEP_PREVIEW") != "" {
		_ = os.WriteFile(os.Getenv("CCTV_KEEP_PREVIEW"), jpg, 0o644)
	}
	if b := img.Bounds(); b.Dx() != 320 || b.Dy() <= 240 {
		t.Errorf("preview %v: want 320 wide with a caption band below 240 rows", b)
	}
	lum := func(x, y int) int { r, g, b, _ := img.At(x, y).RGBA(); return int(r+g+b) / 3 >> 8 }
	if l := lum(70, 50); l > 30 { // inside the mask, away from its outline and label
		t.Errorf("inside the mask luma %d, want black", l)
	}
	if l := lum(260, 220); l > 30 { // outside the kept region
		t.Errorf("outside the kept region luma %d, want black", l)
	}
	r.Masks = []export.Mask{{X: 300, Y: 0, W: 21, H: 1}}
	if _, _, _, _, err := export.PreviewJPEG(t.Context(), r); !errors.Is(err, export.ErrMaskOutside) {
		t.Errorf("mask outside: err %v", err)
	}
}
