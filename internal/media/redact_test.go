package media_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/testutil"
)

// TestWriteClip_Edit: a redacted copy of H.264 or H.265 masters is
// decoded, edited (here the top-left 64×64 blacked out, and a 21-row band
// added, rounded to 22) and encoded as H.264; every frame is edited, and
// the result decodes cleanly.
func TestWriteClip_Edit(t *testing.T) {
	for _, codec := range []media.Codec{media.H264, media.H265} {
		t.Run(codec.String(), func(t *testing.T) { testEdit(t, codec) })
	}
}

func testEdit(t *testing.T, codec media.Codec) {
	aus := testClip(t, codec)
	a, _ := muxToFile(t, codec, aus)
	b, _ := muxToFile(t, codec, aus)
	srcs := []media.Source{{Path: a, Start: clipT0}, {Path: b, Start: clipT0.Add(2 * time.Second)}}
	out := filepath.Join(t.TempDir(), "redacted.mp4")
	var edited int
	info, err := media.WriteClip(t.Context(), out, media.ClipOptions{
		Sources: srcs, From: clipT0.Add(500 * time.Millisecond), To: clipT0.Add(3 * time.Second),
		Edit: &media.FrameEdit{
			Band: func(w, h int) int { return 21 },
			Apply: func(p *media.Picture, wall time.Time) {
				edited++
				if p.Width != 320 || p.Height != 262 {
					t.Errorf("picture %dx%d, want 320x262", p.Width, p.Height)
				}
				for y := range 64 {
					for x := range 64 {
						p.Y[y*p.YStride+x] = 16
					}
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if info.Method != "redact" || info.Encoder == nil || info.Frames != 75 || int64(edited) != info.Frames {
		t.Errorf("info %+v (encoder %+v), %d frames edited", info, info.Encoder, edited)
	}
	testutil.Decode(t, out)
	got, _ := run(t, "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", out)
	if strings.TrimSpace(got) != "h264,320,262" {
		t.Errorf("stream %q, want h264,320,262", got)
	}
	// The blacked-out corner is black in the copy: its mean luma is about 16.
	yavg, _ := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", out, "-frames:v", "1", "-vf", "crop=48:48:8:8,signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-", "-f", "null", "-")
	if !strings.Contains(yavg, "YAVG=16") && !strings.Contains(yavg, "YAVG=17") {
		t.Errorf("blacked-out corner: %s", yavg)
	}
}
