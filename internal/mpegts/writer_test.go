package mpegts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/council/cctv/internal/mpegts"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/internal/tsscan"
)

// accessUnit is one frame of a source clip.
type accessUnit struct {
	data     []byte
	pts, dts int64
	key      bool
}

// sourceClip encodes a clip with B-frames using the ffmpeg binary (libx264
// or libx265, x264 adding its own SEI) and returns its access units as
// ffprobe times them and as `ffmpeg -c copy -f h264|hevc` cuts them.
func sourceClip(t *testing.T, codec string, frames int) []accessUnit {
	t.Helper()
	testutil.NeedTool(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.ts")
	enc := []string{"-c:v", "libx264", "-bf", "2", "-g", "25"}
	raw := "h264"
	if codec == "h265" {
		enc = []string{"-c:v", "libx265", "-x265-params", "bframes=2:keyint=25:log-level=error"}
		raw = "hevc"
	}
	run := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
			}
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	args := append([]string{"ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
		"testsrc2=size=192x108:rate=25", "-frames:v", strconv.Itoa(frames), "-pix_fmt", "yuv420p"}, enc...)
	run(append(args, src)...)
	es := run("ffmpeg", "-nostdin", "-v", "error", "-i", src, "-map", "0:v:0", "-c", "copy", "-f", raw, "-")
	csv := run("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts,dts,size,flags",
		"-of", "csv=p=0", src)
	var aus []accessUnit
	for _, line := range strings.Split(strings.TrimSpace(string(csv)), "\n") {
		var pts, dts, size int64
		var flags string
		if line == "" {
			continue // ffprobe separates some packets with an empty line
		}
		f := strings.Split(line, ",")
		if len(f) < 4 {
			t.Fatalf("ffprobe line %q", line)
		}
		pts, _ = strconv.ParseInt(f[0], 10, 64)
		dts, _ = strconv.ParseInt(f[1], 10, 64)
		size, _ = strconv.ParseInt(f[2], 10, 64)
		flags = f[3]
		if int64(len(es)) < size {
			t.Fatalf("elementary stream shorter than the packets ffprobe lists")
		}
		aus = append(aus, accessUnit{data: es[:size], pts: pts, dts: dts, key: strings.HasPrefix(flags, "K")})
		es = es[size:]
	}
	if len(es) != 0 || len(aus) != frames || !aus[0].key {
		t.Fatalf("source clip: %d access units (want %d), %d bytes left, first key %v", len(aus), frames, len(es), aus[0].key)
	}
	return aus
}

func writeTS(t *testing.T, path string, st mpegts.StreamType, aus []accessUnit, bufSize int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := mpegts.NewWriter(f, st, bufSize)
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range aus {
		if err := w.WriteFrame(au.data, au.pts, au.dts, au.key); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWriter_DecodesCleanlyByteExact judges the writer's files with the
// ffmpeg and ffprobe binaries: no message at all while decoding, every
// frame there, the elementary stream byte for byte what was given, the
// timestamps kept; and with tsscan, which crash recovery relies on.
func TestWriter_DecodesCleanlyByteExact(t *testing.T) {
	for _, tc := range []struct {
		codec string
		st    mpegts.StreamType
		raw   string
	}{{"h264", mpegts.H264, "h264"}, {"h265", mpegts.H265, "hevc"}} {
		t.Run(tc.codec, func(t *testing.T) {
			aus := sourceClip(t, tc.codec, 60)
			path := filepath.Join(t.TempDir(), "out.ts")
			writeTS(t, path, tc.st, aus, 4*mpegts.PacketSize) // small buffer: many flushes
			out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Fatalf("ffmpeg -v error decode: %v: %s", err, out)
			}
			packets, frames, err := testutil.CountFrames(path)
			if err != nil {
				t.Fatal(err)
			}
			if packets != len(aus) || frames != len(aus) {
				t.Errorf("ffprobe: %d packets, %d frames; wrote %d", packets, frames, len(aus))
			}
			es, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-c", "copy", "-f", tc.raw, "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for _, au := range aus {
				want = append(want, au.data...)
			}
			if !bytes.Equal(es, want) {
				t.Errorf("elementary stream differs from the access units written (%d bytes, want %d)", len(es), len(want))
			}
			p := testutil.FFprobe(t, path)
			for i, pk := range p.Packets {
				// ffprobe lists packets in decode order, as written.
				if got, want := int64(pk.DTS*90000+0.5), aus[i].dts; got != want {
					t.Fatalf("packet %d: dts %d, want %d", i, got, want)
				}
				if pk.Key != aus[i].key {
					t.Errorf("packet %d: key %v, want %v", i, pk.Key, aus[i].key)
				}
			}

			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := tsscan.Scan(f, fi.Size())
			if err != nil {
				t.Fatal(err)
			}
			if res.WholeBytes != fi.Size() || res.Frames != int64(len(aus)) || !res.FirstKey || res.Codec() != tc.codec {
				t.Errorf("tsscan: %+v (file %d bytes, %d frames)", res, fi.Size(), len(aus))
			}
			minPTS, maxPTS := aus[0].pts, aus[0].pts
			for _, au := range aus {
				minPTS, maxPTS = min(minPTS, au.pts), max(maxPTS, au.pts)
			}
			if res.FirstPTS != aus[0].pts || res.LastPTS != maxPTS {
				t.Errorf("tsscan PTS %d..%d, want %d..%d", res.FirstPTS, res.LastPTS, aus[0].pts, maxPTS)
			}
			cut, err := tsscan.ScanWholeFrames(f, fi.Size())
			if err != nil {
				t.Fatal(err)
			}
			if cut.Frames != int64(len(aus))-1 {
				t.Errorf("tsscan whole frames %d, want %d", cut.Frames, len(aus)-1)
			}
		})
	}
}

// TestWriter_TornTail_DecodesUpToTheCut: a file cut anywhere (a crash) and
// truncated to the whole frames tsscan finds decodes without a message.
func TestWriter_TornTail_DecodesUpToTheCut(t *testing.T) {
	aus := sourceClip(t, "h264", 30)
	dir := t.TempDir()
	path := filepath.Join(dir, "out.ts")
	writeTS(t, path, mpegts.H264, aus, 0)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(data) / 3, len(data)/2 + 77, len(data) - 100} {
		b := data[:cut]
		res, err := tsscan.ScanWholeFrames(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("cut%d.ts", cut))
		if err := os.WriteFile(p, b[:res.WholeBytes], 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", p, "-f", "null", "-").CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("cut at %d: ffmpeg: %v: %s", cut, err, out)
		}
		if _, frames, err := testutil.CountFrames(p); err != nil || int64(frames) != res.Frames {
			t.Errorf("cut at %d: ffprobe %d frames (%v), tsscan %d", cut, frames, err, res.Frames)
		}
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, syscall.ENOSPC
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriter_WriteError_Sticky(t *testing.T) {
	w, err := mpegts.NewWriter(&failWriter{n: 2 * mpegts.PacketSize}, mpegts.H264, 2*mpegts.PacketSize)
	if err != nil {
		t.Fatal(err)
	}
	au := append([]byte{0, 0, 0, 1, 0x65}, make([]byte, 1000)...)
	var first error
	for i := range 5 {
		if err := w.WriteFrame(au, int64(i)*3600, int64(i)*3600, i == 0); err != nil {
			first = err
			break
		}
	}
	if !errors.Is(first, syscall.ENOSPC) {
		t.Fatalf("write error %v, want ENOSPC", first)
	}
	if err := w.WriteFrame(au, 1e6, 1e6, false); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("after the error: %v, want it again", err)
	}
	if err := w.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("close: %v, want ENOSPC", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if err := w.WriteFrame(au, 2e6, 2e6, true); !errors.Is(err, mpegts.ErrClosed) {
		t.Errorf("after close: %v, want ErrClosed", err)
	}
}

func TestWriter_BadInput_Refused(t *testing.T) {
	if _, err := mpegts.NewWriter(&bytes.Buffer{}, 0x02, 0); err == nil {
		t.Error("stream type 0x02 accepted")
	}
	w, _ := mpegts.NewWriter(&bytes.Buffer{}, mpegts.H264, 0)
	if err := w.WriteFrame(nil, 0, 0, true); err == nil {
		t.Error("empty access unit accepted")
	}
	if err := w.WriteFrame([]byte{0, 0, 1, 0x65}, 10, 20, true); err == nil {
		t.Error("pts before dts accepted")
	}
}

func TestWriter_WriteFrame_NoAlloc(t *testing.T) {
	var sink countWriter
	w, _ := mpegts.NewWriter(&sink, mpegts.H264, 0)
	au := append([]byte{0, 0, 0, 1, 0x41}, make([]byte, 20000)...)
	i := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		if err := w.WriteFrame(au, 90000+i*3600, 90000+i*3600, i%50 == 0); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per frame, want 0", allocs)
	}
	if sink.n == 0 {
		t.Error("nothing reached the writer")
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func BenchmarkWriter_WriteFrame(b *testing.B) {
	var sink countWriter
	w, _ := mpegts.NewWriter(&sink, mpegts.H264, 0)
	au := append([]byte{0, 0, 0, 1, 0x41}, make([]byte, 20000)...) // 4 Mbit/s at 25 fps
	b.SetBytes(int64(len(au)))
	b.ReportAllocs()
	for i := range int64(b.N) {
		if err := w.WriteFrame(au, 90000+i*3600, 90000+i*3600, i%50 == 0); err != nil {
			b.Fatal(err)
		}
	}
}
