package tsscan_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/internal/tsscan"
	"github.com/council/cctv/internal/tsscan/tstest"
)

// ffmpegTS encodes a 2 s, 25 fps test pattern with the system encoder, or
// skips the test if ffmpeg is not installed.
func ffmpegTS(t *testing.T, codec string) []byte {
	t.Helper()
	testutil.NeedTool(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "out.ts")
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "testsrc=size=160x120:rate=25", "-t", "2", "-c:v", codec, "-g", "25", "-bf", "0"}
	if codec == "libx265" {
		args = append(args, "-x265-params", "log-level=error")
	}
	args = append(args, "-f", "mpegts", out)
	if b, err := exec.CommandContext(t.Context(), "ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func scan(t *testing.T, b []byte) tsscan.Result {
	t.Helper()
	r, err := tsscan.Scan(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestScan_FFmpeg(t *testing.T) {
	tests := []struct {
		name, encoder, codec string
	}{
		{"h264", "libx264", "h264"},
		{"h265", "libx265", "h265"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := ffmpegTS(t, tc.encoder)
			r := scan(t, b)
			if r.WholeBytes != int64(len(b)) {
				t.Errorf("WholeBytes %d, file %d", r.WholeBytes, len(b))
			}
			if r.Frames != 50 {
				t.Errorf("Frames %d, want 50", r.Frames)
			}
			if !r.HasPTS || r.LastPTS-r.FirstPTS != 49*3600 {
				t.Errorf("PTS %d..%d (has %v), want span %d", r.FirstPTS, r.LastPTS, r.HasPTS, 49*3600)
			}
			if !r.FirstKey {
				t.Error("FirstKey false")
			}
			if r.Codec() != tc.codec {
				t.Errorf("codec %q", r.Codec())
			}
			if r.FrameDuration() != 3600 {
				t.Errorf("frame duration %d", r.FrameDuration())
			}

			// Torn mid-packet: whole packets only, fewer or equal frames.
			cut := len(b)/2 + 77
			tr := scan(t, b[:cut])
			if want := int64(cut / 188 * 188); tr.WholeBytes != want {
				t.Errorf("torn: WholeBytes %d, want %d", tr.WholeBytes, want)
			}
			if tr.Frames == 0 || tr.Frames >= 50 {
				t.Errorf("torn: Frames %d", tr.Frames)
			}
		})
	}
}

func TestScan_Built(t *testing.T) {
	tests := []struct {
		name string
		o    tstest.Options
	}{
		{"h264", tstest.Options{Frames: 50, FPS: 25}},
		{"h265", tstest.Options{Frames: 30, FPS: 30, Codec: "h265"}},
		{"one frame", tstest.Options{Frames: 1}},
		{"pts wrap", tstest.Options{Frames: 50, StartPTS: 1<<33 - 3600*10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tstest.Build(tc.o)
			r := scan(t, b)
			fps := int64(max(tc.o.FPS, 25))
			if r.WholeBytes != int64(len(b)) || len(b)%188 != 0 {
				t.Errorf("WholeBytes %d len %d", r.WholeBytes, len(b))
			}
			if r.Frames != int64(tc.o.Frames) {
				t.Errorf("Frames %d", r.Frames)
			}
			if got, want := r.LastPTS-r.FirstPTS, int64(tc.o.Frames-1)*90000/fps; got != want {
				t.Errorf("span %d want %d", got, want)
			}
			if !r.FirstKey {
				t.Error("FirstKey false")
			}
		})
	}
}

func TestScan_Torn(t *testing.T) {
	b := tstest.Build(tstest.Options{Frames: 10})
	tests := []struct {
		name string
		data []byte
		want int64
	}{
		{"empty", nil, 0},
		{"short first packet", b[:100], 0},
		{"mid packet", b[:188*7+5], 188 * 7},
		{"bad sync", append(append([]byte{}, b[:188*3]...), append([]byte{0x00}, b[188*3+1:]...)...), 188 * 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := scan(t, tc.data); r.WholeBytes != tc.want {
				t.Fatalf("WholeBytes %d want %d", r.WholeBytes, tc.want)
			}
		})
	}
}

func TestScan_NotKey(t *testing.T) {
	b := tstest.Build(tstest.Options{Frames: 10, GOP: 5})
	// Drop the first frame: skip PAT+PMT, then the packets of frame 0.
	r := scan(t, b)
	if !r.FirstKey {
		t.Fatal("want key")
	}
	// Rebuild starting mid-GOP by removing frame-0 packets (PUSI on video PID).
	var out []byte
	out = append(out, b[:376]...)
	seen := 0
	for p := b[376:]; len(p) >= 188; p = p[188:] {
		if p[1]&0x40 != 0 {
			seen++
		}
		if seen >= 2 {
			out = append(out, p[:188]...)
		}
	}
	r = scan(t, out)
	if r.FirstKey || r.Frames != 9 {
		t.Fatalf("FirstKey %v Frames %d", r.FirstKey, r.Frames)
	}
}

type errReader struct{}

func (errReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

func TestScan_ReadError(t *testing.T) {
	if _, err := tsscan.Scan(errReader{}, 188); err == nil {
		t.Fatal("want error")
	}
}

func TestScan_SizeLargerThanData(t *testing.T) {
	b := tstest.Build(tstest.Options{Frames: 3})
	r, err := tsscan.Scan(bytes.NewReader(b), int64(len(b))+1000)
	if err != nil || r.WholeBytes != int64(len(b)) || r.Frames != 3 {
		t.Fatalf("r %+v err %v", r, err)
	}
}

func FuzzScan(f *testing.F) {
	b := tstest.Build(tstest.Options{Frames: 4, FrameBytes: 300})
	f.Add(b)
	f.Add(tstest.Build(tstest.Options{Frames: 3, Codec: "h265"}))
	f.Add(b[:188*3+10])
	f.Add([]byte{0x47})
	f.Add(bytes.Repeat([]byte{0x47, 0x40, 0x00, 0x30, 0xff}, 80))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := tsscan.Scan(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if r.WholeBytes%188 != 0 || r.WholeBytes > int64(len(data)) {
			t.Fatalf("WholeBytes %d for %d bytes", r.WholeBytes, len(data))
		}
		if r.HasPTS != (r.FirstPTS >= 0) || r.LastPTS < r.FirstPTS {
			t.Fatalf("pts %+v", r)
		}
		// Scanning the whole prefix gives the same result.
		r2, _ := tsscan.Scan(bytes.NewReader(data[:r.WholeBytes]), r.WholeBytes)
		if r2 != r {
			t.Fatalf("prefix scan differs: %+v vs %+v", r2, r)
		}
	})
}

func TestScanWholeFrames_DropsTheLastFrame(t *testing.T) {
	ts := tstest.Build(tstest.Options{Frames: 10})
	for _, cut := range []int{0, 90, 188 * 3} {
		b := ts[:len(ts)-cut]
		res, err := tsscan.ScanWholeFrames(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		all, _ := tsscan.Scan(bytes.NewReader(b), int64(len(b)))
		if res.Frames != all.Frames-1 || res.WholeBytes >= all.WholeBytes || res.WholeBytes%tsscan.PacketSize != 0 {
			t.Errorf("cut %d: whole frames %d in %d bytes; scan says %d frames in %d bytes", cut, res.Frames, res.WholeBytes, all.Frames, all.WholeBytes)
		}
		// What remains scans to the same frames, all of them whole.
		again, _ := tsscan.Scan(bytes.NewReader(b[:res.WholeBytes]), res.WholeBytes)
		if again.Frames != res.Frames || again.LastPTS != res.LastPTS {
			t.Errorf("cut %d: prefix rescans to %d frames, last PTS %d; want %d, %d", cut, again.Frames, again.LastPTS, res.Frames, res.LastPTS)
		}
	}
}
