package export_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/store"
)

var clipH265 = sync.OnceValues(func() ([]media.AccessUnit, error) {
	return media.EncodeClip(media.EncodeConfig{Codec: media.H265, Width: 320, Height: 240, FPS: fps, GOP: fps, Bitrate: 300_000}, segFrames)
})

// recordH265 writes and seals n consecutive H.265 segments of camera from
// start, as record does for H.264.
func (f *fixture) recordH265(camera string, start time.Time, n int) {
	f.t.Helper()
	aus, err := clipH265()
	if err != nil {
		f.t.Fatal(err)
	}
	for s := range n {
		begin := start.Add(time.Duration(s) * segLen)
		w, err := f.st.CreateSegment(camera, begin, "h265")
		if err != nil {
			f.t.Fatal(err)
		}
		m, err := media.NewTSMuxer(w, media.H265)
		if err != nil {
			f.t.Fatal(err)
		}
		base := int64(900000 + s*123457)
		for i, au := range aus {
			ts := base + int64(i)*90000/fps
			if err := m.WriteFrame(media.JoinAnnexB(nil, au.NALUs), ts, ts, au.Key); err != nil {
				f.t.Fatal(err)
			}
		}
		if err := m.Close(); err != nil {
			f.t.Fatal(err)
		}
		if _, err := w.Seal(store.SealInfo{End: begin.Add(segLen), Frames: segFrames, TimeSource: "rtcp"}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func TestBuild_H265Camera_Transcoded(t *testing.T) {
	f := newFixture(t)
	f.recordH265("car-park", t0, 2) // 14:00:00 to 14:00:08
	f.record("front-desk", t0, 2)
	from, to := t0.Add(2500*time.Millisecond), t0.Add(6500*time.Millisecond)
	pkg, err := export.Build(t.Context(), f.request(from, to, "car-park", "front-desk"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, pkg, "sha256sum", "--strict", "-c", "SHA256SUMS")
	rep, err := export.Verify(pkg, export.VerifyOptions{Fingerprint: f.key.Fingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Masters != 4 {
		t.Errorf("verify: %+v", rep)
	}

	m := readManifest(t, pkg)
	if c := m.Cameras[0]; c.ID != "car-park" || c.Codec != "h265" || len(c.Uncovered) != 0 {
		t.Errorf("camera record %+v", c)
	}
	derivations := map[string]*export.Derivation{}
	for _, fl := range m.Files {
		if fl.Role == export.RoleWorkingCopy {
			derivations[fl.Camera] = fl.Derivation
		}
	}
	d := derivations["car-park"]
	// Keyframe at or before 14:00:02.5 is at 14:00:02; 113 frames, 14:00:02.00 to 14:00:06.48.
	if d == nil || d.Method != "transcode" || len(d.From) != 2 || d.Frames != 113 ||
		!d.Start.Equal(t0.Add(2*time.Second)) || !d.End.Equal(t0.Add(6520*time.Millisecond)) {
		t.Fatalf("car-park derivation %+v", d)
	}
	if e := d.Encoder; e == nil || e.Name != "libx264" || !strings.HasPrefix(e.Version, "core ") ||
		!strings.Contains(e.Settings, "preset=veryfast crf=20") {
		t.Errorf("encoder %+v", d.Encoder)
	}
	libs := map[string]string{}
	for _, l := range d.Libraries {
		libs[l.Name] = l.Version
	}
	if libs["libavcodec"] == "" || libs["ffmpeg"] == "" || libs["libx264"] != d.Encoder.Version {
		t.Errorf("libraries %+v", d.Libraries)
	}
	if h := derivations["front-desk"]; h == nil || h.Method != "remux" || h.Encoder != nil {
		t.Errorf("front-desk derivation %+v", h)
	}
	raw, err := os.ReadFile(filepath.Join(pkg, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), `"encoder"`); n != 1 {
		t.Errorf("manifest names an encoder %d times, want once (transcode only)", n)
	}

	mp4 := filepath.Join(pkg, "video", "car-park.mp4")
	streams := run(t, pkg, "ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0", mp4)
	if got := strings.Fields(streams); len(got) != 2 || got[0] != "h264,video" || got[1] != "mov_text,subtitle" {
		t.Errorf("streams %q", got)
	}
	if n := testutil.Decode(t, mp4); n != 113 {
		t.Errorf("%d video packets, want 113", n)
	}
	if dur, want := testutil.FFprobe(t, mp4).Duration(), to.Sub(t0.Add(2*time.Second)); dur < want-time.Millisecond {
		t.Errorf("working copy lasts %s, want at least %s", dur, want)
	}
	report, _ := os.ReadFile(filepath.Join(pkg, "report.html"))
	if !strings.Contains(string(report), "transcode of") || !strings.Contains(string(report), "libx264") {
		t.Errorf("report.html does not name the transcode")
	}
}
