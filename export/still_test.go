package export_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/testutil"
)

// frameTimeByFFprobe is the wall time of the frame on screen at instant at
// in a master that starts at start, computed independently of our media
// code: ffprobe's frame PTS, counted from the first frame.
func frameTimeByFFprobe(t *testing.T, master string, start, at time.Time) time.Time {
	t.Helper()
	out := run(t, filepath.Dir(master), "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", master)
	var pts []float64
	for _, l := range strings.Fields(out) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe pts %q", l)
		}
		pts = append(pts, v)
	}
	first := pts[0]
	for _, p := range pts {
		first = min(first, p)
	}
	var best time.Time
	for _, p := range pts {
		w := start.Add(time.Duration((p - first) * float64(time.Second)).Round(time.Millisecond))
		if !w.After(at) && w.After(best) {
			best = w
		}
	}
	return best
}

// bandDiff counts the pixels of the caption bands (the rows below h) of a
// and b whose grey levels differ by more than half the range: pixels of a
// glyph in one and not in the other, JPEG noise aside.
func bandDiff(a, b image.Image, h int) int {
	r := a.Bounds()
	n := 0
	for y := h; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			ga := color.GrayModel.Convert(a.At(x, y)).(color.Gray).Y
			gb := color.GrayModel.Convert(b.At(x, y)).(color.Gray).Y
			if d := int(ga) - int(gb); d > 128 || d < -128 {
				n++
			}
		}
	}
	return n
}

// TestStill_CaptionShowsFrameTime: a still's caption shows the time of the
// frame actually shown, derived from its PTS (checked with ffprobe), not the
// instant asked for; the manifest records both. Checked in a package and
// for `cctv still` (StillJPEG).
func TestStill_CaptionShowsFrameTime(t *testing.T) {
	testutil.NeedTools(t, "ffprobe")
	f := newFixture(t)
	f.record("front-desk", t0, 3)
	at := t0.Add(6*time.Second + 130*time.Millisecond) // between frames 6.120 and 6.160
	r := f.request(t0, t0.Add(12*time.Second), "front-desk")
	r.Stills = []time.Time{at}
	pkg, err := export.Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	seg := r.Cameras[0].Segments[1] // 14:00:04 to 14:00:08
	master := filepath.Join(pkg, "master", "front-desk", filepath.Base(seg.File))
	want := frameTimeByFFprobe(t, master, seg.Start, at)
	if !want.Equal(t0.Add(6120 * time.Millisecond)) {
		t.Fatalf("ffprobe puts the frame at %s", want.Format(time.RFC3339Nano))
	}
	m := readManifest(t, pkg)
	if len(m.Stills) != 1 || !m.Stills[0].At.Equal(at) || m.Stills[0].FrameTime == nil || !m.Stills[0].FrameTime.Equal(want) {
		t.Fatalf("manifest stills %+v", m.Stills)
	}
	single, when, err := export.StillJPEG(t.Context(), export.StillRequest{Site: "s", BoxID: boxID, Location: london, Camera: "front-desk", Segment: seg, At: at})
	if err != nil || !when.Equal(want) {
		t.Fatalf("StillJPEG: %v, frame at %s", err, when)
	}
	for name, b := range map[string][]byte{"package": mustRead(t, filepath.Join(pkg, m.Stills[0].File)), "cctv still": single} {
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		blank := image.NewRGBA(image.Rect(0, 0, 320, 240))
		atFrame := bandDiff(img, export.CaptionedForTest(blank, london, boxID, "front-desk", want), 240)
		atAsked := bandDiff(img, export.CaptionedForTest(blank, london, boxID, "front-desk", at), 240)
		t.Logf("%s: %d band pixels differ from the frame time's caption, %d from the asked time's", name, atFrame, atAsked)
		if atFrame > 4 || atAsked < 16 {
			t.Errorf("%s: %d caption pixels differ from the caption of the frame's time %s and %d from that of the time asked for %s",
				name, atFrame, want.Format("15:04:05.000"), atAsked, at.Format("15:04:05.000"))
		}
	}
}
