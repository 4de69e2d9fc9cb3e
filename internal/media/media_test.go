package media_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/council/cctv/internal/media"
)

const testFrames = 50

var clips sync.Map // media.Codec -> func() ([]media.AccessUnit, error)

// testClip encodes 50 frames of 320x240 once per codec per test binary.
func testClip(t testing.TB, codec media.Codec) []media.AccessUnit {
	t.Helper()
	f, _ := clips.LoadOrStore(codec, sync.OnceValues(func() ([]media.AccessUnit, error) {
		return media.EncodeClip(media.EncodeConfig{
			Codec: codec, Width: 320, Height: 240, FPS: 25, GOP: 25, Bitrate: 300_000,
		}, testFrames)
	}))
	aus, err := f.(func() ([]media.AccessUnit, error))()
	if err != nil {
		t.Fatalf("encode %v clip: %v", codec, err)
	}
	return aus
}

// ffName is FFmpeg's name for the codec and its raw format.
func ffName(c media.Codec) string {
	if c == media.H265 {
		return "hevc"
	}
	return "h264"
}

func nalType(c media.Codec, n []byte) int {
	if c == media.H264 {
		return int(n[0] & 0x1f)
	}
	return int(n[0]>>1) & 0x3f
}

// testSEI returns a user_data_unregistered SEI NAL for frame i. The payload
// avoids zero bytes, so no emulation prevention is needed.
func testSEI(c media.Codec, i int) []byte {
	var b []byte
	if c == media.H264 {
		b = []byte{6}
	} else {
		b = []byte{39 << 1, 1}
	}
	b = append(b, 5, 24)
	b = append(b, "cctv-media-test!"...)
	b = append(b, fmt.Sprintf("%08d", i)...)
	return append(b, 0x80)
}

func TestEncodeClip_Codecs(t *testing.T) {
	for _, codec := range []media.Codec{media.H264, media.H265} {
		t.Run(codec.String(), func(t *testing.T) {
			aus := testClip(t, codec)
			if len(aus) != testFrames {
				t.Fatalf("got %d access units, want %d", len(aus), testFrames)
			}
			want := map[int]bool{7: true, 8: true} // SPS, PPS
			if codec == media.H265 {
				want = map[int]bool{32: true, 33: true, 34: true} // VPS, SPS, PPS
			}
			for i, au := range aus {
				if au.PTS != int64(i) {
					t.Errorf("frame %d: pts %d", i, au.PTS)
				}
				if key := i%25 == 0; au.Key != key {
					t.Errorf("frame %d: key %v, want %v", i, au.Key, key)
				}
				seen := map[int]bool{}
				for _, n := range au.NALUs {
					if len(n) == 0 {
						t.Fatalf("frame %d: empty NAL unit", i)
					}
					seen[nalType(codec, n)] = true
				}
				for typ := range want {
					if au.Key && !seen[typ] {
						t.Errorf("frame %d: keyframe without parameter set NAL type %d", i, typ)
					}
				}
			}
		})
	}
}

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"four-byte", []byte{0, 0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x65, 1, 2}, [][]byte{{9, 0xf0}, {0x65, 1, 2}}},
		{"three-byte", []byte{0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2}, [][]byte{{0x67, 1}, {0x68, 2}}},
		{"mixed", []byte{0, 0, 1, 6, 5, 0, 0, 0, 1, 0x41, 0}, [][]byte{{6, 5}, {0x41, 0}}},
		{"empty", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := media.SplitAnnexB(tc.in)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("SplitAnnexB = %v, want %v", got, tc.want)
			}
		})
	}
}

// muxToFile writes aus (with a test SEI in front of the slices of each
// frame) through a TSMuxer into a file and returns its path and the NAL units
// as muxed.
func muxToFile(t *testing.T, codec media.Codec, aus []media.AccessUnit) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.ts")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := media.NewTSMuxer(f, codec)
	if err != nil {
		t.Fatal(err)
	}
	var all [][]byte
	var buf []byte
	for i, au := range aus {
		nalus := append([][]byte{testSEI(codec, i)}, au.NALUs...)
		all = append(all, nalus...)
		buf = media.JoinAnnexB(buf[:0], nalus)
		ts := int64(i) * 3600
		if err := m.WriteFrame(buf, ts+3600, ts, au.Key); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, all
}

func run(t *testing.T, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, e.String())
	}
	return o.String(), e.String()
}

// probePackets returns the flags of every video packet in path.
func probePackets(t *testing.T, path string) []string {
	t.Helper()
	out, _ := run(t, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=flags", "-of", "csv=p=0", path)
	return strings.Fields(out)
}

func TestTSMuxer_WriteFrame_FFprobe(t *testing.T) {
	for _, codec := range []media.Codec{media.H264, media.H265} {
		t.Run(codec.String(), func(t *testing.T) {
			path, muxed := muxToFile(t, codec, testClip(t, codec))

			if _, stderr := run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"); stderr != "" {
				t.Errorf("ffmpeg decode: %s", stderr)
			}
			out, _ := run(t, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
				"-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", path)
			// The stream is listed twice: under its program and alone.
			if got, want := strings.Fields(out)[0], ffName(codec)+","+strconv.Itoa(testFrames); got != want {
				t.Errorf("ffprobe stream = %q, want %q", got, want)
			}
			flags := probePackets(t, path)
			if len(flags) != testFrames {
				t.Fatalf("got %d packets, want %d", len(flags), testFrames)
			}
			for i, fl := range flags {
				if key := strings.HasPrefix(fl, "K"); key != (i%25 == 0) {
					t.Errorf("packet %d flags %q", i, fl)
				}
			}

			// The elementary stream, extracted by FFmpeg, holds exactly the NAL
			// units muxed, byte for byte, plus access unit delimiters.
			es := filepath.Join(t.TempDir(), "es."+codec.String())
			run(t, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-c", "copy", "-f", ffName(codec), es)
			raw, err := os.ReadFile(es)
			if err != nil {
				t.Fatal(err)
			}
			aud := 9
			if codec == media.H265 {
				aud = 35
			}
			var got [][]byte
			for _, n := range media.SplitAnnexB(raw) {
				if nalType(codec, n) != aud {
					got = append(got, n)
				}
			}
			if len(got) != len(muxed) {
				t.Fatalf("elementary stream has %d NAL units (without AUDs), want %d", len(got), len(muxed))
			}
			for i := range got {
				if !bytes.Equal(got[i], muxed[i]) {
					t.Fatalf("NAL unit %d differs:\n got %x\nwant %x", i, got[i], muxed[i])
				}
			}
		})
	}
}

// TestTSMuxer_Flush_Readable checks that after Flush, without a trailer,
// the bytes written so far hold every frame written so far.
func TestTSMuxer_Flush_Readable(t *testing.T) {
	aus := testClip(t, media.H264)
	var w bytes.Buffer
	m, err := media.NewTSMuxer(&w, media.H264)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const n = 30
	for i, au := range aus[:n] {
		if err := m.WriteFrame(media.JoinAnnexB(nil, au.NALUs), int64(i)*3600, int64(i)*3600, au.Key); err != nil {
			t.Fatal(err)
		}
	}
	if w.Len() != 0 {
		t.Logf("%d bytes reached the writer before Flush", w.Len())
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.Len()%188 != 0 {
		t.Errorf("flushed %d bytes, not whole TS packets", w.Len())
	}
	path := filepath.Join(t.TempDir(), "flushed.ts")
	if err := os.WriteFile(path, w.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := len(probePackets(t, path)); got != n {
		t.Errorf("flushed file has %d packets, want %d", got, n)
	}
}

type failWriter struct {
	after int // bytes accepted before failing
	n     int
	err   error
}

func (w *failWriter) Write(b []byte) (int, error) {
	if w.n+len(b) > w.after {
		return 0, w.err
	}
	w.n += len(b)
	return len(b), nil
}

func TestTSMuxer_WriteFrame_WriteError(t *testing.T) {
	aus := testClip(t, media.H264)
	tests := []struct {
		name  string
		after int
		err   error
	}{
		{"enospc-on-flush", 1 << 30, syscall.ENOSPC},
		{"eio-while-buffer-fills", 0, syscall.EIO},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &failWriter{after: tc.after, err: tc.err}
			if tc.after > 1<<20 {
				w.after = 0 // fail at the first write, which Flush forces
			}
			m, err := media.NewTSMuxer(w, media.H264)
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			for i := 0; werr == nil && i < 200; i++ {
				au := aus[i%len(aus)]
				werr = m.WriteFrame(media.JoinAnnexB(nil, au.NALUs), int64(i)*3600, int64(i)*3600, au.Key)
				if tc.name == "enospc-on-flush" && werr == nil {
					werr = m.Flush()
				}
			}
			if !errors.Is(werr, tc.err) {
				t.Fatalf("error %v, want one wrapping %v", werr, tc.err)
			}
			if err := m.WriteFrame([]byte{0, 0, 0, 1, 0x65}, 1e9, 1e9, true); !errors.Is(err, tc.err) {
				t.Errorf("WriteFrame after failure = %v, want sticky %v", err, tc.err)
			}
			if err := m.Close(); !errors.Is(err, tc.err) {
				t.Errorf("Close = %v, want %v", err, tc.err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("second Close = %v", err)
			}
		})
	}
}

func TestTSMuxer_Close_Unusable(t *testing.T) {
	m, err := media.NewTSMuxer(io.Discard, media.H265)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteFrame([]byte{0, 0, 0, 1, 0x26, 1}, 0, 0, true); !errors.Is(err, media.ErrMuxerClosed) {
		t.Errorf("WriteFrame after Close = %v", err)
	}
	if err := m.Flush(); !errors.Is(err, media.ErrMuxerClosed) {
		t.Errorf("Flush after Close = %v", err)
	}
}

type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestSetLogger_RoutesFFmpegLogs(t *testing.T) {
	h := &recordHandler{}
	media.SetLogger(slog.New(h))
	t.Cleanup(func() { media.SetLogger(nil) })

	m, err := media.NewTSMuxer(io.Discard, media.H264)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// No start code: the muxer refuses the packet and logs why.
	if err := m.WriteFrame([]byte{0x65, 1, 2, 3}, 0, 0, true); err == nil {
		t.Fatal("WriteFrame accepted a packet without start code")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.msgs) == 0 {
		t.Fatal("no FFmpeg log reached the logger")
	}
	for _, msg := range h.msgs {
		if !strings.HasPrefix(msg, "DEBUG ") {
			t.Errorf("log %q not at debug level", msg)
		}
	}
	t.Logf("ffmpeg said: %q", h.msgs)
}

func TestVersions(t *testing.T) {
	v := media.Versions()
	for _, k := range []string{"ffmpeg", "libavformat", "libavcodec", "libavutil"} {
		if v[k] == "" {
			t.Errorf("Versions()[%q] is empty", k)
		}
	}
	if !strings.HasPrefix(v["libavformat"], "59.") {
		t.Errorf("libavformat %q, want 59.x (FFmpeg 5.1)", v["libavformat"])
	}
}

func BenchmarkTSMuxer_WriteFrame(b *testing.B) {
	aus := testClip(b, media.H264)
	frames := make([][]byte, len(aus))
	var size int
	for i, au := range aus {
		frames[i] = media.JoinAnnexB(nil, au.NALUs)
		size += len(frames[i])
	}
	m, err := media.NewTSMuxer(io.Discard, media.H264)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.SetBytes(int64(size / len(frames)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ts := int64(i) * 3600
		if err := m.WriteFrame(frames[i%len(frames)], ts, ts, aus[i%len(aus)].Key); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
