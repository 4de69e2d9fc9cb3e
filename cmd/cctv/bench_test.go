package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/internal/testutil"
)

// benchDuration is how long each side records in BenchmarkRecord; override
// with CCTV_BENCH_SECONDS.
func benchDuration() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("CCTV_BENCH_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 30 * time.Second
}

// usage is what a group of processes cost.
type usage struct {
	cpu    time.Duration // user + system
	maxRSS int64         // bytes: the largest single process
	sumRSS int64         // bytes: peak RSS summed over the processes
}

func rusage(ps *os.ProcessState) usage {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return usage{}
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	rss := ru.Maxrss * 1024
	return usage{cpu: cpu, maxRSS: rss, sumRSS: rss}
}

// BenchmarkRecord records N synthetic 1080p25 H.264 cameras at 4 Mbit/s
// (GOP 2 s) with `cctv record`, then the same streams with one
// `ffmpeg -c copy -f segment` per camera, and reports CPU-seconds per
// camera-minute and RSS per camera for both, and their ratio.
func BenchmarkRecord(b *testing.B) {
	for _, n := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("cameras=%d", n), func(b *testing.B) {
			for range b.N {
				benchRecord(b, n)
			}
		})
	}
}

func benchRecord(b *testing.B, n int) {
	testutil.NeedTool(b, "ffmpeg")
	dur := benchDuration()
	dir := b.TempDir()
	cams, err := synthcam.NewServer(synthcam.ServerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer cams.Close()
	var urls []string
	var sources []*synthcam.Camera
	for i := range n {
		path := fmt.Sprintf("cam-%02d", i)
		src, err := cams.AddCamera(synthcam.CameraConfig{
			Path: path, Codec: media.H264, Width: 1920, Height: 1080, FPS: 25, GOP: 50, Bitrate: 4_000_000,
		})
		if err != nil {
			b.Fatal(err)
		}
		sources = append(sources, src)
		urls = append(urls, cams.URL(path))
	}

	// cctv record, as a child process.
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "site = \"bench\"\nbox_id = \"bench\"\ndata_dir = %q\nkey_file = %q\nsegment = \"10s\"\nallowed_networks = [\"127.0.0.0/8\"]\n",
		filepath.Join(dir, "data"), filepath.Join(dir, "key"))
	for i, u := range urls {
		fmt.Fprintf(&cfg, "\n[[camera]]\nid = \"cam-%02d\"\nurl = %q\n", i, u)
	}
	cfgPath := filepath.Join(dir, "cctv.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{{"keys", "init"}, {"init"}} {
		if code := run(context.Background(), append([]string{"cctv", "--config", cfgPath}, args...), os.Stderr, os.Stderr); code != 0 {
			b.Fatalf("cctv %v: exit %d", args, code)
		}
	}
	b.ResetTimer()
	rec := exec.Command(os.Args[0], "--config", cfgPath, "--log-level", "warn", "record")
	rec.Env = append(os.Environ(), envRunMain+"=1")
	rec.Stderr = os.Stderr
	sentBefore := framesSent(sources)
	if err := rec.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(dur) // the measurement window: recording runs for this long
	anon, file := rssOf(rec.Process.Pid)
	rec.Process.Signal(syscall.SIGTERM)
	if err := rec.Wait(); err != nil {
		b.Fatalf("cctv record: %v", err)
	}
	ours := rusage(rec.ProcessState)
	sent := framesSent(sources) - sentBefore
	recorded, lost := recordedFrames(b, cfgPath, 25)

	// ffmpeg -c copy -f segment on the same streams, one process per camera.
	var ffs []*exec.Cmd
	for i, u := range urls {
		out := filepath.Join(dir, fmt.Sprintf("ffmpeg-%02d", i))
		if err := os.MkdirAll(out, 0o755); err != nil {
			b.Fatal(err)
		}
		ff := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", u,
			"-c", "copy", "-f", "segment", "-segment_time", "10", "-segment_format", "mpegts",
			filepath.Join(out, "seg%05d.ts"))
		ff.Stderr = os.Stderr
		if err := ff.Start(); err != nil {
			b.Fatal(err)
		}
		ffs = append(ffs, ff)
	}
	time.Sleep(dur)
	var theirs usage
	for _, ff := range ffs {
		ff.Process.Signal(os.Interrupt)
	}
	for _, ff := range ffs {
		ff.Wait()
		u := rusage(ff.ProcessState)
		theirs.cpu += u.cpu
		theirs.sumRSS += u.sumRSS
		theirs.maxRSS = max(theirs.maxRSS, u.maxRSS)
	}
	b.StopTimer()

	camMinutes := float64(n) * dur.Minutes()
	oursCPU := ours.cpu.Seconds() / camMinutes
	theirCPU := theirs.cpu.Seconds() / camMinutes
	b.ReportMetric(oursCPU, "cpu-s/cam-min")
	b.ReportMetric(float64(ours.maxRSS)/float64(n)/1e6, "MB-rss/cam")
	b.ReportMetric(float64(anon)/float64(n)/1e6, "MB-anon/cam")
	b.ReportMetric(theirCPU, "ffmpeg-cpu-s/cam-min")
	b.ReportMetric(float64(theirs.sumRSS)/float64(n)/1e6, "ffmpeg-MB-rss/cam")
	if theirCPU > 0 {
		b.ReportMetric(oursCPU/theirCPU, "cpu-ratio")
	}
	b.ReportMetric(float64(lost), "frames-lost")
	b.Logf("cameras=%d: cctv anonymous RSS %.1f MB, file-backed (shared libraries) %.1f MB", n, float64(anon)/1e6, float64(file)/1e6)
	b.Logf("cameras=%d window=%s: cctv %.3f cpu-s/cam-min, %.1f MB RSS total; ffmpeg %.3f cpu-s/cam-min, %.1f MB RSS total; frames recorded %d (of %d sent, from the first keyframe each camera saw), lost inside the recorded span %d",
		n, dur, oursCPU, float64(ours.maxRSS)/1e6, theirCPU, float64(theirs.sumRSS)/1e6, recorded, sent, lost)
}

func framesSent(cams []*synthcam.Camera) int64 {
	var total int64
	for _, c := range cams {
		total += c.FramesSent()
	}
	return total
}

// recordedFrames sums the frames in every sealed segment, as `cctv list`
// reports them, and counts the frames missing inside each camera's recorded
// span (from its first segment's start to its last segment's end).
func recordedFrames(b *testing.B, cfgPath string, fps float64) (recorded, lost int64) {
	var out strings.Builder
	code := run(context.Background(), []string{"cctv", "--config", cfgPath, "list", "--json",
		"--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z"}, &out, os.Stderr)
	if code != 0 {
		b.Fatalf("cctv list: exit %d", code)
	}
	var list api.List
	if err := json.Unmarshal([]byte(out.String()), &list); err != nil {
		b.Fatal(err)
	}
	for _, c := range list.Cameras {
		if len(c.Segments) == 0 {
			b.Errorf("camera %s recorded nothing", c.Camera)
			continue
		}
		var frames int64
		for _, s := range c.Segments {
			frames += s.Frames
		}
		span := c.Segments[len(c.Segments)-1].End.Sub(c.Segments[0].Start)
		recorded += frames
		lost += max(0, int64(span.Seconds()*fps+0.5)-frames)
	}
	return recorded, lost
}

// rssOf reads a process's resident memory from /proc: anonymous (heap,
// buffers: what the cameras cost) and file-backed (shared libraries).
func rssOf(pid int) (anon, file int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "RssAnon:":
			anon = kb * 1024
		case "RssFile:":
			file = kb * 1024
		}
	}
	return anon, file
}
