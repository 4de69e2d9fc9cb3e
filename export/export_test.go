package export_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/store"
)

const (
	boxID     = "kid-csc-01"
	fps       = 25
	segFrames = 100 // 4 s segments, 1 s GOPs
	segLen    = segFrames * time.Second / fps
)

var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err)
	}
	return l
}()

var clip = sync.OnceValues(func() ([]media.AccessUnit, error) {
	return media.EncodeClip(media.EncodeConfig{Codec: media.H264, Width: 320, Height: 240, FPS: fps, GOP: fps, Bitrate: 300_000}, segFrames)
})

// fixture is a real store, sealed by a real box key, holding segments
// muxed from x264 output by the recorder's TS muxer.
type fixture struct {
	t   testing.TB
	st  *store.Store
	key *boxkey.Key
	out string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	key, err := boxkey.Init(filepath.Join(dir, "key", "box_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := store.Init(data, boxID); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(data, store.Options{BoxID: boxID, Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, st: st, key: key, out: out}
}

// record writes and seals n consecutive segments of camera from start.
func (f *fixture) record(camera string, start time.Time, n int) {
	f.t.Helper()
	aus, err := clip()
	if err != nil {
		f.t.Fatal(err)
	}
	for s := range n {
		begin := start.Add(time.Duration(s) * segLen)
		w, err := f.st.CreateSegment(camera, begin, "h264")
		if err != nil {
			f.t.Fatal(err)
		}
		m, err := media.NewTSMuxer(w, media.H264)
		if err != nil {
			f.t.Fatal(err)
		}
		base := int64(900000 + s*123457) // arbitrary, as a camera's RTP clock
		for i, au := range aus {
			ts := base + int64(i)*90000/fps
			if err := m.WriteFrame(media.JoinAnnexB(nil, au.NALUs), ts, ts, au.Key); err != nil {
				f.t.Fatal(err)
			}
		}
		if err := m.Close(); err != nil {
			f.t.Fatal(err)
		}
		if _, err := w.Seal(store.SealInfo{End: begin.Add(segLen), Frames: segFrames, TimeSource: "rtcp", ClockOffset: 12 * time.Millisecond}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) request(from, to time.Time, cameras ...string) export.Request {
	f.t.Helper()
	r := export.Request{
		Site: "Kidderminster Civic Centre", BoxID: boxID, Location: london,
		From: from, To: to,
		Case: "WMP-22112026/0042", Reason: "Police request: theft from counter",
		Recipient: "PC 1234 A. Smith, West Mercia Police", Exhibit: "AB/1",
		Producer: export.Producer{Name: "Joe Bloggs", Login: "jbloggs"},
		Key:      f.key, OutDir: f.out, SoftwareVersion: "test",
	}
	e, err := f.st.Audit(store.AuditEntry{User: "jbloggs", UID: 1001, Action: "export", Params: map[string]string{
		"case": r.Case, "from": from.UTC().Format(time.RFC3339), "to": to.UTC().Format(time.RFC3339)}, Result: "started"})
	if err != nil {
		f.t.Fatal(err)
	}
	if r.Audit, err = export.AuditProofOf(f.st, e.Seq); err != nil {
		f.t.Fatal(err)
	}
	for _, c := range cameras {
		segs, err := f.st.SignedSegments(c, from, to)
		if err != nil {
			f.t.Fatal(err)
		}
		gaps, err := f.st.Gaps(c, from, to)
		if err != nil {
			f.t.Fatal(err)
		}
		r.Cameras = append(r.Cameras, export.Camera{ID: c, Name: c, Segments: segs, Gaps: gaps})
	}
	return r
}

func run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readManifest(t testing.TB, pkg string) *export.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pkg, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := export.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileHash(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestBuild_IndependentTools(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 3) // 14:00:00 to 14:00:12
	from, to := t0.Add(2500*time.Millisecond), t0.Add(9500*time.Millisecond)
	still := t0.Add(5130 * time.Millisecond)
	r := f.request(from, to, "front-desk")
	r.Stills = []time.Time{still}
	before := map[string]string{}
	for _, s := range r.Cameras[0].Segments {
		before[s.Path] = fileHash(t, s.Path)
	}
	pkg, err := export.Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if want := "WMP-22112026-0042_kid-csc-01_20261122T140002.500Z"; filepath.Base(pkg) != want {
		t.Errorf("package name %s, want %s", filepath.Base(pkg), want)
	}
	if ents, _ := os.ReadDir(f.out); len(ents) != 1 {
		t.Errorf("out dir holds %d entries, want the package only", len(ents))
	}
	for p, h := range before {
		if fileHash(t, p) != h {
			t.Errorf("export changed recorded segment %s", p)
		}
	}

	out := run(t, pkg, "sh", "-c", "ssh-keygen -Y verify -f allowed_signers -I "+boxID+" -n cctv-evidence -s manifest.json.sig < manifest.json")
	if !strings.Contains(out, "Good") {
		t.Errorf("ssh-keygen: %s", out)
	}
	run(t, pkg, "sha256sum", "--strict", "-c", "SHA256SUMS")

	m := readManifest(t, pkg)
	var masters []string
	for _, fl := range m.Files {
		if fl.Role == export.RoleMaster {
			masters = append(masters, fl.Path)
			testutil.Decode(t, filepath.Join(pkg, fl.Path))
		}
	}
	if len(masters) != 3 {
		t.Errorf("masters %v, want 3", masters)
	}

	mp4 := filepath.Join(pkg, "video", "front-desk.mp4")
	streams := run(t, pkg, "ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0", mp4)
	if got := strings.Fields(streams); len(got) != 2 || got[0] != "h264,video" || got[1] != "mov_text,subtitle" {
		t.Errorf("streams %q", got)
	}
	p := testutil.FFprobe(t, mp4)
	keyBefore := t0.Add(2 * time.Second) // keyframe at or before 14:00:02.5
	if d, want := p.Duration(), to.Sub(keyBefore); d < want-time.Millisecond || d > want+time.Second {
		t.Errorf("working copy lasts %s, want %s (window from the keyframe)", d, want)
	}
	testutil.Decode(t, mp4)
	trace := run(t, pkg, "sh", "-c", "ffprobe -v trace "+mp4+" 2>&1 | grep -o \"type:'m[od][oa][vt]'\" | head -2")
	if got := strings.Fields(trace); len(got) != 2 || got[0] != "type:'moov'" {
		t.Errorf("atoms %q: moov must come before mdat", got)
	}
	srt := run(t, pkg, "ffmpeg", "-nostdin", "-v", "error", "-i", mp4, "-map", "0:s:0", "-f", "srt", "-")
	for _, want := range []string{"2026-11-22 14:00:02 GMT", "2026-11-22 14:00:09 GMT"} {
		if !strings.Contains(srt, want) {
			t.Errorf("captions lack %q:\n%s", want, srt)
		}
	}

	jp := filepath.Join(pkg, "stills", "front-desk_20261122T140005.130Z.jpg")
	jf, err := os.Open(jp)
	if err != nil {
		t.Fatal(err)
	}
	defer jf.Close()
	cfg, err := jpeg.DecodeConfig(jf)
	if err != nil {
		t.Fatalf("still is not a JPEG: %v", err)
	}
	if cfg.Width != 320 || cfg.Height <= 240 {
		t.Errorf("still %dx%d, want 320 wide and taller than 240 (caption band)", cfg.Width, cfg.Height)
	}
	if len(m.Stills) != 1 || m.Stills[0].FrameTime == nil || !m.Stills[0].FrameTime.Equal(t0.Add(5120*time.Millisecond)) {
		t.Errorf("stills %+v", m.Stills)
	}

	rep, err := export.Verify(pkg, export.VerifyOptions{Fingerprint: f.key.Fingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Masters != 3 {
		t.Errorf("verify: %+v", rep)
	}
	if c := m.Cameras[0]; len(c.Uncovered) != 0 || len(c.Covered) != 1 || len(c.Clock) != 3 || c.Clock[0].TimeSource != "rtcp" {
		t.Errorf("camera record %+v", c)
	}
	report, _ := os.ReadFile(filepath.Join(pkg, "report.html"))
	for _, want := range []string{"@page", "WMP-22112026/0042", "14:00:02 GMT", masters[0]} {
		if !bytes.Contains(report, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	readme, _ := os.ReadFile(filepath.Join(pkg, "README.txt"))
	if !bytes.Contains(readme, []byte("-I "+boxID+" -n cctv-evidence")) || !bytes.Contains(readme, []byte(f.key.Fingerprint())) {
		t.Errorf("README.txt lacks the verify command or fingerprint")
	}
}

func TestBuild_PartlyCovered_GapInManifest(t *testing.T) {
	f := newFixture(t)
	f.record("lobby", t0, 1)                    // 14:00:00–14:00:04
	f.record("lobby", t0.Add(8*time.Second), 1) // 14:00:08–14:00:12
	gap := store.Gap{Camera: "lobby", From: t0.Add(segLen), To: t0.Add(8 * time.Second), Reason: "unreachable", Recorded: t0}
	if err := f.st.AddGap(gap); err != nil {
		t.Fatal(err)
	}
	pkg, err := export.Build(t.Context(), f.request(t0.Add(time.Second), t0.Add(11*time.Second), "lobby"))
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, pkg)
	c := m.Cameras[0]
	if len(c.Gaps) != 1 || c.Gaps[0].Reason != "unreachable" || len(c.Uncovered) != 1 ||
		!c.Uncovered[0].From.Equal(t0.Add(segLen)) || !c.Uncovered[0].To.Equal(t0.Add(8*time.Second)) {
		t.Errorf("camera record %+v", c)
	}
	if rep, err := export.Verify(pkg, export.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}
}

func TestBuild_NoFootage_NamesGaps(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 1)
	if err := f.st.AddGap(store.Gap{Camera: "front-desk", From: t0.Add(segLen), To: t0.Add(time.Hour), Reason: "unreachable", Recorded: t0}); err != nil {
		t.Fatal(err)
	}
	_, err := export.Build(t.Context(), f.request(t0.Add(10*time.Minute), t0.Add(15*time.Minute), "front-desk"))
	if !errors.Is(err, export.ErrNoFootage) {
		t.Fatalf("err %v, want ErrNoFootage", err)
	}
	if !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "14:00:04 GMT") {
		t.Errorf("error does not name the gap: %v", err)
	}
	if ents, _ := os.ReadDir(f.out); len(ents) != 0 {
		t.Errorf("failed export left %v", ents)
	}
}

func TestBuild_SealMismatch_Refused(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 2)
	r := f.request(t0, t0.Add(8*time.Second), "front-desk")
	p := r.Cameras[0].Segments[1].Path
	b, _ := os.ReadFile(p)
	b[1000] ^= 0xff
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := export.Build(t.Context(), r)
	if !errors.Is(err, export.ErrSealMismatch) {
		t.Fatalf("err %v, want ErrSealMismatch", err)
	}
	if ents, _ := os.ReadDir(f.out); len(ents) != 0 {
		t.Errorf("failed export left %v", ents)
	}
}

func TestBuild_Cancelled_LeavesNothing(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 2)
	ctx, cancel := context.WithCancel(t.Context())
	r := f.request(t0, t0.Add(8*time.Second), "front-desk")
	r.Progress = func(done, total int64) {
		if done > total/4 {
			cancel()
		}
	}
	if _, err := export.Build(ctx, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if ents, _ := os.ReadDir(f.out); len(ents) != 0 {
		t.Errorf("cancelled export left %v", ents)
	}
}

func TestManifest_Canonical(t *testing.T) {
	f := newFixture(t)
	f.record("front-desk", t0, 1)
	pkg, err := export.Build(t.Context(), f.request(t0, t0.Add(3*time.Second), "front-desk"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(pkg, "manifest.json"))
	var loose map[string]any
	if err := json.Unmarshal(b, &loose); err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(loose) // same content, another encoding
	if _, err := export.ParseManifest(compact); err == nil {
		t.Error("a non-canonical encoding was accepted")
	}
	if _, err := export.ParseManifest(b); err != nil {
		t.Error(err)
	}
}
