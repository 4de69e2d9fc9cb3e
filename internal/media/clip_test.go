package media_test

import (
	"encoding/json"
	"errors"
	"image"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/testutil"
)

var clipT0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

// twoSources muxes the 50-frame (2 s, GOP 1 s) H.264 test clip twice, as two
// consecutive segments starting at clipT0 and clipT0+2s.
func twoSources(t *testing.T) []media.Source {
	t.Helper()
	aus := testClip(t, media.H264)
	a, _ := muxToFile(t, media.H264, aus)
	b, _ := muxToFile(t, media.H264, aus)
	return []media.Source{{Path: a, Start: clipT0}, {Path: b, Start: clipT0.Add(2 * time.Second)}}
}

type probeStream struct {
	CodecName string `json:"codec_name"`
	CodecType string `json:"codec_type"`
}

func probeStreams(t *testing.T, path string) []probeStream {
	t.Helper()
	out, _ := run(t, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,codec_type", "-of", "json", path)
	var v struct{ Streams []probeStream }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	return v.Streams
}

func TestWriteClip_AcrossSegments(t *testing.T) {
	srcs := twoSources(t)
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "clip.mp4")
	from, to := clipT0.Add(1500*time.Millisecond), clipT0.Add(3500*time.Millisecond)
	info, err := media.WriteClip(t.Context(), out, media.ClipOptions{Sources: srcs, From: from, To: to, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	// Keyframe at or before 1.5 s is at 1 s; frames before 3.5 s: up to 3.48 s.
	if want := clipT0.Add(time.Second); !info.Start.Equal(want) {
		t.Errorf("start %s, want %s", info.Start, want)
	}
	if info.Frames != 63 || info.Method != "remux" || len(info.Used) != 2 {
		t.Errorf("info %+v", info)
	}
	streams := probeStreams(t, out)
	if len(streams) != 2 || streams[0].CodecName != "h264" || streams[1].CodecName != "mov_text" {
		t.Errorf("streams %+v", streams)
	}
	if d := testutil.FFprobe(t, out).Duration(); d < to.Sub(info.Start)-time.Millisecond {
		t.Errorf("duration %s, want at least %s", d, to.Sub(info.Start))
	}
	testutil.Decode(t, out)
	subs, _ := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", out, "-map", "0:s:0", "-f", "srt", "-")
	for _, want := range []string{"2026-11-22 14:00:01 GMT", "2026-11-22 14:00:03 GMT"} {
		if !strings.Contains(subs, want) {
			t.Errorf("captions lack %q:\n%s", want, subs)
		}
	}
	// moov before mdat.
	atoms, _ := exec.Command("sh", "-c", "ffprobe -v trace "+out+" 2>&1 | grep -o \"type:'m[od][oa][vt]'\" | head -2").Output()
	if got := strings.Fields(string(atoms)); len(got) != 2 || got[0] != "type:'moov'" {
		t.Errorf("atoms %q, want moov first", got)
	}
}

func TestWriteClip_NoFrames(t *testing.T) {
	srcs := twoSources(t)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	_, err := media.WriteClip(t.Context(), out, media.ClipOptions{Sources: srcs, From: clipT0.Add(time.Hour), To: clipT0.Add(2 * time.Hour)})
	if !errors.Is(err, media.ErrNoFrames) {
		t.Fatalf("err %v, want ErrNoFrames", err)
	}
}

func TestWriteClip_H265Refused(t *testing.T) {
	aus := testClip(t, media.H265)
	p, _ := muxToFile(t, media.H265, aus)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	_, err := media.WriteClip(t.Context(), out, media.ClipOptions{Sources: []media.Source{{Path: p, Start: clipT0}}, From: clipT0, To: clipT0.Add(time.Second)})
	if !errors.Is(err, media.ErrTranscodeUnsupported) {
		t.Fatalf("err %v, want ErrTranscodeUnsupported", err)
	}
}

func TestFrameAt_LastFrameAtOrBefore(t *testing.T) {
	srcs := twoSources(t)
	at := clipT0.Add(2*time.Second + 130*time.Millisecond) // frame 3 of the second segment
	img, when, err := media.FrameAt(t.Context(), srcs[1], at)
	if err != nil {
		t.Fatal(err)
	}
	if want := clipT0.Add(2*time.Second + 120*time.Millisecond); !when.Equal(want) {
		t.Errorf("frame time %s, want %s", when, want)
	}
	if img.Bounds() != image.Rect(0, 0, 320, 240) {
		t.Errorf("bounds %v", img.Bounds())
	}
	if _, _, err := media.FrameAt(t.Context(), srcs[1], clipT0.Add(time.Second)); !errors.Is(err, media.ErrNoFrames) {
		t.Errorf("before the segment: err %v, want ErrNoFrames", err)
	}
}
