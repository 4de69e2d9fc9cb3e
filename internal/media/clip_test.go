package media_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os/exec"
	"path/filepath"
	"slices"
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

// probeTimes returns the pts_time of every video frame (or packet) in path.
func probeTimes(t *testing.T, path, what string) []string {
	t.Helper()
	out, _ := run(t, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", what+"=pts_time", "-of", "csv=p=0", path)
	f := strings.Fields(out)
	for i := range f {
		f[i] = strings.TrimRight(f[i], ",") // side data adds empty columns
	}
	return f
}

// TestWriteClip_H265Transcoded: an H.265 window across two segments becomes
// an H.264 working copy whose frames carry the same wall-clock-derived
// timestamps as a remux of the same window of H.264 masters.
func TestWriteClip_H265Transcoded(t *testing.T) {
	aus := testClip(t, media.H265)
	a, _ := muxToFile(t, media.H265, aus)
	b, _ := muxToFile(t, media.H265, aus)
	srcs := []media.Source{{Path: a, Start: clipT0}, {Path: b, Start: clipT0.Add(2 * time.Second)}}
	from, to := clipT0.Add(1500*time.Millisecond), clipT0.Add(3500*time.Millisecond)
	var progress int64
	out := filepath.Join(t.TempDir(), "clip.mp4")
	info, err := media.WriteClip(t.Context(), out, media.ClipOptions{
		Sources: srcs, From: from, To: to, Progress: func(n int64) { progress += n }})
	if err != nil {
		t.Fatal(err)
	}
	// Keyframe at or before 1.5 s is at 1 s; frames before 3.5 s: 1 s to
	// 3.48 s, 63 frames.
	const window = 63
	if want := clipT0.Add(time.Second); !info.Start.Equal(want) {
		t.Errorf("start %s, want %s", info.Start, want)
	}
	if want := clipT0.Add(3520 * time.Millisecond); !info.End.Equal(want) { // last frame 3.48 s + 40 ms
		t.Errorf("end %s, want %s", info.End, want)
	}
	if info.Codec != media.H265 || info.Method != "transcode" || len(info.Used) != 2 || info.Frames < window-1 || info.Frames > window+1 {
		t.Errorf("info %+v", info)
	}
	if e := info.Encoder; e == nil || e.Name != "libx264" || !strings.HasPrefix(e.Version, "core ") ||
		!strings.Contains(e.Settings, "preset=veryfast crf=20 bf=0 g=50 pix_fmt=yuv420p size=320x240") {
		t.Errorf("encoder %+v", info.Encoder)
	}
	if progress <= 0 {
		t.Errorf("no progress reported")
	}
	streams := probeStreams(t, out)
	if len(streams) != 2 || streams[0].CodecName != "h264" || streams[1].CodecName != "mov_text" {
		t.Errorf("streams %+v", streams)
	}
	vs, _ := run(t, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=pix_fmt,width,height,has_b_frames,nb_read_frames", "-of", "csv=p=0", out)
	if got, want := strings.TrimSpace(vs), fmt.Sprintf("320,240,0,yuv420p,%d", info.Frames); got != want {
		t.Errorf("video stream %q, want %q", got, want)
	}
	if d := testutil.FFprobe(t, out).Duration(); d < to.Sub(info.Start)-time.Millisecond {
		t.Errorf("duration %s, want at least %s", d, to.Sub(info.Start))
	}
	if _, stderr := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", out, "-f", "null", "-"); stderr != "" {
		t.Errorf("ffmpeg decode: %s", stderr)
	}
	// Key frames about every 2 s (50 frames at 25 fps).
	flags := probePackets(t, out)
	for i, f := range flags {
		if key := strings.HasPrefix(f, "K"); key != (i%50 == 0) {
			t.Errorf("packet %d flags %s", i, f)
		}
	}
	subs, _ := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", out, "-map", "0:s:0", "-f", "srt", "-")
	for _, want := range []string{"2026-11-22 14:00:01 UTC", "2026-11-22 14:00:03 UTC"} {
		if !strings.Contains(subs, want) {
			t.Errorf("captions lack %q:\n%s", want, subs)
		}
	}
	atoms, _ := exec.Command("sh", "-c", "ffprobe -v trace "+out+" 2>&1 | grep -o \"type:'m[od][oa][vt]'\" | head -2").Output()
	if got := strings.Fields(string(atoms)); len(got) != 2 || got[0] != "type:'moov'" {
		t.Errorf("atoms %q, want moov first", got)
	}

	// Same timestamps as the remux of the H.264 masters of the same window.
	remux := filepath.Join(t.TempDir(), "remux.mp4")
	if _, err := media.WriteClip(t.Context(), remux, media.ClipOptions{Sources: twoSources(t), From: from, To: to}); err != nil {
		t.Fatal(err)
	}
	got, want := probeTimes(t, out, "frame"), probeTimes(t, remux, "frame")
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("frame times\n%v\nwant (remux)\n%v", got, want)
	}
}

// TestWriteClip_H265Gap: a recorded gap between H.265 segments stays a gap
// in the transcoded timeline.
func TestWriteClip_H265Gap(t *testing.T) {
	aus := testClip(t, media.H265)
	a, _ := muxToFile(t, media.H265, aus)
	b, _ := muxToFile(t, media.H265, aus)
	srcs := []media.Source{{Path: a, Start: clipT0}, {Path: b, Start: clipT0.Add(5 * time.Second)}}
	out := filepath.Join(t.TempDir(), "clip.mp4")
	info, err := media.WriteClip(t.Context(), out, media.ClipOptions{Sources: srcs, From: clipT0, To: clipT0.Add(7 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if info.Frames != 2*testFrames {
		t.Errorf("frames %d, want %d", info.Frames, 2*testFrames)
	}
	times := probeTimes(t, out, "packet")
	if len(times) != 2*testFrames || times[testFrames-1] != "1.960000" || times[testFrames] != "5.000000" {
		t.Errorf("packet times around the gap: %v", times)
	}
	testutil.Decode(t, out)
}

func TestWriteClip_H265NoFrames(t *testing.T) {
	aus := testClip(t, media.H265)
	p, _ := muxToFile(t, media.H265, aus)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	_, err := media.WriteClip(t.Context(), out, media.ClipOptions{Sources: []media.Source{{Path: p, Start: clipT0}}, From: clipT0.Add(time.Hour), To: clipT0.Add(2 * time.Hour)})
	if !errors.Is(err, media.ErrNoFrames) {
		t.Fatalf("err %v, want ErrNoFrames", err)
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

// TestWriteClip_BFrames: a window across two segments of an H.264 stream
// with B-frames (encoded by ffmpeg with -bf 2, so frames arrive in decode
// order, not presentation order) becomes a working copy whose captions are
// in presentation order and which decodes without a warning, holding every
// frame shown in the window (issue 18: "write caption packet: Invalid
// argument").
func TestWriteClip_BFrames(t *testing.T) {
	testutil.NeedTool(t, "ffmpeg")
	dir := t.TempDir()
	var srcs []media.Source
	for i := range 2 {
		p := filepath.Join(dir, fmt.Sprintf("seg%d.ts", i))
		run(t, "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=d=2:s=320x240:r=25",
			"-c:v", "libx264", "-bf", "2", "-g", "25", "-pix_fmt", "yuv420p", "-f", "mpegts", p)
		srcs = append(srcs, media.Source{Path: p, Start: clipT0.Add(time.Duration(i) * 2 * time.Second)})
	}
	if p := testutil.FFprobe(t, srcs[0].Path); p.Packets[1].PTS <= p.Packets[2].PTS {
		t.Fatalf("the test stream has no B-frames: %+v", p.Packets[:4])
	}
	for _, tc := range []struct {
		name     string
		from, to time.Duration
		start    time.Duration
		frames   int64
	}{
		{"inside one segment", 1100 * time.Millisecond, 1900 * time.Millisecond, time.Second, 23},
		{"across the seam", 1500 * time.Millisecond, 3500 * time.Millisecond, time.Second, 63},
		{"every frame", 0, 4 * time.Second, 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "clip.mp4")
			info, err := media.WriteClip(t.Context(), out, media.ClipOptions{Sources: srcs, From: clipT0.Add(tc.from), To: clipT0.Add(tc.to)})
			if err != nil {
				t.Fatal(err)
			}
			// Frames shown after To are kept when a frame shown before it
			// refers to them: up to the two B-frames' reference.
			if !info.Start.Equal(clipT0.Add(tc.start)) || info.Frames < tc.frames || info.Frames > tc.frames+2 {
				t.Errorf("start %s, %d frames; want %s, %d (+2)", info.Start, info.Frames, clipT0.Add(tc.start), tc.frames)
			}
			if _, msgs := run(t, "ffmpeg", "-nostdin", "-v", "warning", "-i", out, "-f", "null", "-"); msgs != "" {
				t.Errorf("ffmpeg -v warning says:\n%s", msgs)
			}
			packets, frames, err := testutil.CountFrames(out)
			if err != nil || int64(packets) != info.Frames || int64(frames) != info.Frames {
				t.Errorf("ffprobe: %d packets, %d frames (%v); want %d", packets, frames, err, info.Frames)
			}
			subs, _ := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", out, "-map", "0:s:0", "-f", "srt", "-")
			var secs []string
			for _, l := range strings.Split(subs, "\n") {
				if strings.Contains(l, "2026-11-22 ") {
					secs = append(secs, l)
				}
			}
			if !slices.IsSorted(secs) || len(secs) != info.Captions || len(secs) == 0 {
				t.Errorf("captions %q, %d written:\n%s", secs, info.Captions, subs)
			}
		})
	}
}

// TestWriteClip_SubFrameSeam: segments whose seam is a fraction of a frame
// off the frame cadence (the recorder follows the box clock by such steps)
// make a working copy that still decodes without a warning: the copy keeps
// whole frame intervals across the seam.
func TestWriteClip_SubFrameSeam(t *testing.T) {
	testutil.NeedTool(t, "ffmpeg")
	dir := t.TempDir()
	var paths []string
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("seg%d.ts", i))
		run(t, "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=d=2:s=320x240:r=25",
			"-c:v", "libx264", "-bf", "2", "-g", "25", "-pix_fmt", "yuv420p", "-f", "mpegts", p)
		paths = append(paths, p)
	}
	for _, step := range []time.Duration{-20 * time.Millisecond, 15 * time.Millisecond} {
		t.Run(step.String(), func(t *testing.T) {
			srcs := []media.Source{
				{Path: paths[0], Start: clipT0},
				{Path: paths[1], Start: clipT0.Add(2*time.Second + step)},
				{Path: paths[2], Start: clipT0.Add(4*time.Second + 2*step)},
			}
			out := filepath.Join(t.TempDir(), "clip.mp4")
			info, err := media.WriteClip(t.Context(), out, media.ClipOptions{Sources: srcs, From: clipT0, To: clipT0.Add(7 * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			if info.Frames != 150 || !info.End.Equal(clipT0.Add(6*time.Second+2*step)) {
				t.Errorf("%d frames to %s, want 150 to %s", info.Frames, info.End, clipT0.Add(6*time.Second+2*step))
			}
			if _, msgs := run(t, "ffmpeg", "-nostdin", "-v", "warning", "-i", out, "-f", "null", "-"); msgs != "" {
				t.Errorf("ffmpeg -v warning says:\n%s", msgs)
			}
			subs, _ := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", out, "-map", "0:s:0", "-f", "srt", "-")
			if n := strings.Count(subs, "2026-11-22 14:00:0"); n != info.Captions || n < 6 {
				t.Errorf("%d captions in the file, %d written:\n%s", n, info.Captions, subs)
			}
		})
	}
}
