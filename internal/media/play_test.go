package media_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/internal/media"
)

// A playback of three segments, the last after a 20 s hole, decodes
// without an error, starts at the keyframe before From, shows every frame
// of the window, shortens the hole to a 2 s card naming it, and gives the
// site time with its zone in a subtitle track.
func TestWritePlayback_AcrossSegmentsWithHole(t *testing.T) {
	srcs := twoSources(t)
	aus := testClip(t, media.H264)
	c, _ := muxToFile(t, media.H264, aus)
	srcs = append(srcs, media.Source{Path: c, Start: clipT0.Add(24 * time.Second)})
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	from, to := clipT0.Add(1500*time.Millisecond), clipT0.Add(26*time.Second)
	info, err := media.WritePlayback(t.Context(), &buf, media.PlayOptions{Sources: srcs, From: from, To: to, Location: loc,
		Gaps: []media.PlayGap{{From: clipT0.Add(4 * time.Second), To: clipT0.Add(24 * time.Second), Reason: "unreachable"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := clipT0.Add(time.Second); !info.Start.Equal(want) {
		t.Errorf("start %s, want the keyframe at %s", info.Start, want)
	}
	if info.Frames != 25+50+50 {
		t.Errorf("%d frames, want 125", info.Frames)
	}
	if len(info.Holes) != 1 || info.Holes[0].Reason != "unreachable" {
		t.Fatalf("holes %+v, want the one 20 s hole, unreachable", info.Holes)
	}
	path := filepath.Join(t.TempDir(), "play.mkv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"); stderr != "" {
		t.Errorf("ffmpeg reports: %s", stderr)
	}
	streams := probeStreams(t, path)
	if len(streams) != 2 || streams[0].CodecName != "h264" || streams[1].CodecName != "subrip" {
		t.Errorf("streams %+v, want h264 and subrip", streams)
	}
	// 5 s of footage plus the 2 s card: not the 25 s of wall time.
	times := probeTimes(t, path, "packet")
	last := times[len(times)-1]
	if !strings.HasPrefix(last, "6.9") && !strings.HasPrefix(last, "7.0") {
		t.Errorf("last packet at %s s, want about 7 s (the hole shown for 2 s)", last)
	}
	subs, _ := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:s", "-f", "srt", "-")
	for _, want := range []string{"2026-11-22 14:00:01 GMT", "2026-11-22 14:00:25 GMT", "NO RECORDING 14:00:04–14:00:24 GMT (unreachable)"} {
		if !strings.Contains(subs, want) {
			t.Errorf("subtitles lack %q:\n%s", want, subs)
		}
	}
}

// H.265 is played as recorded too (Matroska carries it): no transcoding.
func TestWritePlayback_H265Remuxed(t *testing.T) {
	aus := testClip(t, media.H265)
	a, _ := muxToFile(t, media.H265, aus)
	var buf bytes.Buffer
	info, err := media.WritePlayback(t.Context(), &buf, media.PlayOptions{Sources: []media.Source{{Path: a, Start: clipT0}},
		From: clipT0, To: clipT0.Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "play.mkv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"); stderr != "" {
		t.Errorf("ffmpeg reports: %s", stderr)
	}
	if streams := probeStreams(t, path); info.Frames != 50 || len(streams) != 2 || streams[0].CodecName != "hevc" {
		t.Errorf("%d frames, streams %+v: want 50 frames of hevc and the subtitles", info.Frames, streams)
	}
}
