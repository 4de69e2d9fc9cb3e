//go:build benchrecord

package main

// The recording benchmark (make bench-record, SPEC 10): N synthetic 1080p25
// H.264 4 Mbit/s cameras over RTSP/TCP, recorded at the same time by a fresh
// `cctv record` and by one `ffmpeg -c copy -f segment` per camera, measured
// in steady state from /proc. Behind a build tag: it takes minutes.
//
// Environment: BENCH_CAMERAS (default "4 16 64"), BENCH_WARMUP (10s),
// BENCH_WINDOW (40s), BENCH_BITRATE (4000000, bits/s), BENCH_GOGC,
// BENCH_GOMEMLIMIT, BENCH_GODEBUG and BENCH_GOMAXPROCS (passed to cctv as
// GOGC, GOMEMLIMIT, GODEBUG and GOMAXPROCS; unset: the binary's own
// choice).

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/internal/codec"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/internal/testutil"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux
// everywhere that matters; getconf CLK_TCK).
const clockTicks = 100

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

// benchRow is one line of the table.
type benchRow struct {
	n                 int
	cctvCPU, ffCPU    float64 // % of a core per camera
	cctvRSS, cctvPSS  float64 // MiB per camera
	ffRSS, ffPSS      float64
	cctvBytes, ffByte int64 // bytes written in total
	sent, recorded    int64 // frames, cctv
	lost              int64 // frames missing inside cctv's recorded span
	serverCPU         float64
	load              string
	// Where frames went missing: RTP packets the recorder never received
	// and access units it left out (its own counters), packets the camera
	// server dropped because a reader was slow (by recorder), and the
	// time the processes' threads waited for a CPU (ms per second).
	lostPackets, droppedFrames int64
	// The same counters inside the measured window only, and how many
	// cameras were not recording at its end that were at its start.
	winLost, winDropped, winDown int64
	srvDropCCTV, srvDropFF       int64
	camSkipped                   int64 // frames the cameras never sent (over a second behind)
	cctvWait, ffWait             float64
}

func TestBenchRecord(t *testing.T) {
	testutil.NeedTool(t, "ffmpeg", "ffprobe")
	warmup := envDuration(t, "BENCH_WARMUP", 10*time.Second)
	window := envDuration(t, "BENCH_WINDOW", 40*time.Second)
	counts := []int{4, 16, 64}
	if v := os.Getenv("BENCH_CAMERAS"); v != "" {
		counts = nil
		for _, f := range strings.Fields(v) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				t.Fatalf("BENCH_CAMERAS=%q", v)
			}
			counts = append(counts, n)
		}
	}
	bin := filepath.Join(t.TempDir(), "cctv")
	// Built as the box runs it (linked with lld: the libraries cctv loads
	// are part of its resident memory).
	if out, err := exec.Command("../../scripts/go-build.sh", bin).CombinedOutput(); err != nil {
		t.Fatalf("scripts/go-build.sh: %v\n%s", err, out)
	}
	var rows []benchRow
	for _, n := range counts {
		rows = append(rows, benchRecordOnce(t, bin, n, warmup, window))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nsteady state: warm-up %s, window %s; GOGC=%q GOMEMLIMIT=%q GOMAXPROCS=%q; CPU in %% of one core per camera, memory in MiB per camera\n",
		warmup, window, os.Getenv("BENCH_GOGC"), os.Getenv("BENCH_GOMEMLIMIT"), os.Getenv("BENCH_GOMAXPROCS"))
	fmt.Fprintf(&b, "%4s | %8s %8s %6s | %8s %8s %8s %8s | %9s %9s | %7s %7s %5s | %10s | %s\n",
		"N", "cctv cpu", "ffmpeg", "ratio", "cctv rss", "cctv pss", "ff rss", "ff pss",
		"cctv MB", "ff MB", "sent", "rec", "lost", "server cpu", "load avg (1 5 15)")
	for _, r := range rows {
		fmt.Fprintf(&b, "%4d | %7.2f%% %7.2f%% %6.2f | %8.2f %8.2f %8.2f %8.2f | %9.1f %9.1f | %7d %7d %5d | %9.1f%% | %s\n",
			r.n, r.cctvCPU, r.ffCPU, r.cctvCPU/r.ffCPU, r.cctvRSS, r.cctvPSS, r.ffRSS, r.ffPSS,
			float64(r.cctvBytes)/1e6, float64(r.ffByte)/1e6, r.sent, r.recorded, r.lost, r.serverCPU, r.load)
	}
	fmt.Fprintf(&b, "\nwhere frames went: recorder's counters (lost RTP packets, dropped access units) over the run and inside the window (win down: cameras not recording at the window's end), camera server's write-queue drops per reader, frames the cameras skipped (over a second behind on an overloaded machine: the span count above counts them as lost), CPU run-queue wait (ms/s: cctv process; ffmpeg per process)\n")
	fmt.Fprintf(&b, "%4s | %10s %10s | %10s %10s %8s | %12s %12s %9s | %10s %10s\n", "N", "lost pkts", "dropped",
		"win lost", "win drop", "win down", "srv drop cctv", "srv drop ff", "cam skip", "cctv wait", "ff wait")
	for _, r := range rows {
		fmt.Fprintf(&b, "%4d | %10d %10d | %10d %10d %8d | %12d %12d %9d | %10.1f %10.1f\n", r.n, r.lostPackets, r.droppedFrames,
			r.winLost, r.winDropped, r.winDown, r.srvDropCCTV, r.srvDropFF, r.camSkipped, r.cctvWait, r.ffWait)
	}
	t.Log(b.String())
	fmt.Print(b.String())
}

func benchRecordOnce(t *testing.T, bin string, n int, warmup, window time.Duration) benchRow {
	dir := t.TempDir()
	// The camera server runs in this (niced) process: a write queue of a
	// few seconds per reader keeps a busy machine from dropping packets
	// before either recorder sees them (WriteQueueDrops counts any).
	bitrate := 4_000_000
	if v := os.Getenv("BENCH_BITRATE"); v != "" {
		var err error
		if bitrate, err = strconv.Atoi(v); err != nil || bitrate <= 0 {
			t.Fatalf("BENCH_BITRATE=%q: want bits per second", v)
		}
	}
	cams, err := synthcam.NewServer(synthcam.ServerOptions{WriteQueueSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer cams.Close()
	var urls []string
	var sources []*synthcam.Camera
	for i := range n {
		path := fmt.Sprintf("cam-%02d", i)
		src, err := cams.AddCamera(synthcam.CameraConfig{
			Path: path, Codec: codec.H264, Width: 1920, Height: 1080, FPS: 25, GOP: 50, Bitrate: bitrate,
		})
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, src)
		urls = append(urls, cams.URL(path))
	}

	var cfg strings.Builder
	fmt.Fprintf(&cfg, "site = \"bench\"\nbox_id = \"bench\"\ndata_dir = %q\nkey_file = %q\nsocket = %q\nsegment = \"60s\"\nallowed_networks = [\"127.0.0.0/8\"]\n",
		filepath.Join(dir, "data"), filepath.Join(dir, "key"), filepath.Join(dir, "cctv.sock"))
	for i, u := range urls {
		fmt.Fprintf(&cfg, "\n[[camera]]\nid = \"cam-%02d\"\nurl = %q\ntransport = \"tcp\"\n", i, u)
	}
	cfgPath := filepath.Join(dir, "cctv.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"keys", "init"}, {"init"}} {
		if out, err := exec.Command(bin, append([]string{"--config", cfgPath}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("cctv %v: %v\n%s", args, err, out)
		}
	}

	// Both recorders start together on the same streams.
	rec := exec.Command(bin, "--config", cfgPath, "--log-level", "warn", "record")
	rec.Env = os.Environ()
	if v := os.Getenv("BENCH_GOGC"); v != "" {
		rec.Env = append(rec.Env, "GOGC="+v)
	}
	if v := os.Getenv("BENCH_GOMEMLIMIT"); v != "" {
		rec.Env = append(rec.Env, "GOMEMLIMIT="+v)
	}
	if v := os.Getenv("BENCH_GODEBUG"); v != "" {
		rec.Env = append(rec.Env, "GODEBUG="+v) // gctrace=1: the heap at each GC on stderr
	}
	if v := os.Getenv("BENCH_GOMAXPROCS"); v != "" {
		rec.Env = append(rec.Env, "GOMAXPROCS="+v)
	}
	rec.Stderr = os.Stderr
	sentBefore, skippedBefore := framesSent(sources), framesSkipped(sources)
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	ffDir := filepath.Join(dir, "ffmpeg")
	var ffs []*exec.Cmd
	for i, u := range urls {
		out := filepath.Join(ffDir, fmt.Sprintf("cam-%02d", i))
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		ff := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", u,
			"-c", "copy", "-map", "0", "-f", "segment", "-segment_time", "60", "-reset_timestamps", "1",
			filepath.Join(out, "seg%05d.ts"))
		ff.Stderr = os.Stderr
		if err := ff.Start(); err != nil {
			t.Fatal(err)
		}
		ffs = append(ffs, ff)
	}
	stopAll := func() {
		rec.Process.Signal(syscall.SIGTERM)
		for _, ff := range ffs {
			ff.Process.Signal(os.Interrupt)
		}
	}
	defer stopAll()

	time.Sleep(warmup)
	ffPIDs := make([]int, len(ffs))
	for i, ff := range ffs {
		ffPIDs[i] = ff.Process.Pid
	}
	self := os.Getpid()
	c0, f0, s0 := ticks(t, rec.Process.Pid), sumTicks(t, ffPIDs), ticks(t, self)
	cw0, fw0 := runDelay(rec.Process.Pid), sumRunDelay(ffPIDs)
	lost0, dropped0, sessions0 := recorderCounters(t, bin, cfgPath)
	time.Sleep(window)
	c1, f1, s1 := ticks(t, rec.Process.Pid), sumTicks(t, ffPIDs), ticks(t, self)
	cw1, fw1 := runDelay(rec.Process.Pid), sumRunDelay(ffPIDs)
	lostPkts, dropped, sessions := recorderCounters(t, bin, cfgPath)
	srvDrops := cams.WriteQueueDrops()
	cRSS, cPSS, ok := smapsRollup(rec.Process.Pid)
	if !ok {
		t.Errorf("cctv record (%d) exited during the run", rec.Process.Pid)
	}
	var fRSS, fPSS int64
	for _, pid := range ffPIDs {
		r, p, ok := smapsRollup(pid)
		if !ok {
			// The table is still printed; the comparison is off by one camera.
			t.Errorf("ffmpeg %d exited during the run", pid)
			continue
		}
		fRSS, fPSS = fRSS+r, fPSS+p
	}
	load, _ := os.ReadFile("/proc/loadavg")

	stopAll()
	if err := rec.Wait(); err != nil {
		t.Errorf("cctv record: %v", err)
	}
	for _, ff := range ffs {
		ff.Wait() // ffmpeg exits 255 on SIGINT
	}
	sent := framesSent(sources) - sentBefore
	recorded, lost := recordedFrames(t, bin, cfgPath, 25)

	pct := func(d int64) float64 {
		return float64(d) / clockTicks / window.Seconds() * 100 / float64(n)
	}
	mib := func(b int64) float64 { return float64(b) / float64(n) / (1 << 20) }
	lf := strings.Fields(string(load))
	var dropCCTV, dropFF int64
	for agent, d := range srvDrops {
		if strings.Contains(agent, "gortsplib") {
			dropCCTV += d
		} else {
			dropFF += d
		}
	}
	perSec := func(ns int64) float64 { return float64(ns) / 1e6 / window.Seconds() }
	return benchRow{
		lostPackets: lostPkts, droppedFrames: dropped, srvDropCCTV: dropCCTV, srvDropFF: dropFF,
		camSkipped: framesSkipped(sources) - skippedBefore,
		winLost:    lostPkts - lost0, winDropped: dropped - dropped0, winDown: sessions - sessions0,
		cctvWait: perSec(cw1 - cw0), ffWait: perSec(fw1-fw0) / float64(n),
		n:       n,
		cctvCPU: pct(c1 - c0), ffCPU: pct(f1 - f0),
		cctvRSS: mib(cRSS), cctvPSS: mib(cPSS), ffRSS: mib(fRSS), ffPSS: mib(fPSS),
		cctvBytes: dirBytes(t, filepath.Join(dir, "data", "segments")), ffByte: dirBytes(t, ffDir),
		sent: sent, recorded: recorded, lost: lost,
		serverCPU: pct(s1-s0) * float64(n),
		load:      strings.Join(lf[:min(3, len(lf))], " "),
	}
}

// ticks returns the user+system CPU ticks of a process and its waited-for
// children (fields 14-17 of /proc/PID/stat).
func ticks(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read stat of %d: %v", pid, err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
	var sum int64
	for _, i := range []int{14, 15, 16, 17} {
		v, err := strconv.ParseInt(f[i-3], 10, 64)
		if err != nil {
			t.Fatalf("stat of %d: field %d: %v", pid, i, err)
		}
		sum += v
	}
	return sum
}

// runDelay returns the nanoseconds the threads of a process have waited on
// a run queue (second field of /proc/PID/task/TID/schedstat), or 0 without
// schedstats.
func runDelay(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum int64
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			sum += v
		}
	}
	return sum
}

func sumRunDelay(pids []int) int64 {
	var sum int64
	for _, p := range pids {
		sum += runDelay(p)
	}
	return sum
}

// recorderCounters sums the recorder's own loss counters over its cameras
// (cctv status --json): RTP packets that never arrived and access units
// left out.
func recorderCounters(t *testing.T, bin, cfgPath string) (lostPackets, dropped, down int64) {
	cmd := exec.Command(bin, "--config", cfgPath, "status", "--json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output() // exits 1 while an alert is active, with the status on stdout
	if err != nil && len(out) == 0 {
		t.Errorf("cctv status: %v: %s", err, stderr.String())
		return 0, 0, 0
	}
	var st api.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Errorf("cctv status: %v", err)
		return 0, 0, 0
	}
	for _, c := range st.Cameras {
		lostPackets += c.LostPackets
		dropped += c.DroppedFrames
		if c.State != "recording" {
			down++
		}
	}
	return lostPackets, dropped, down
}

func sumTicks(t *testing.T, pids []int) int64 {
	var sum int64
	for _, p := range pids {
		sum += ticks(t, p)
	}
	return sum
}

// smapsRollup returns a process's RSS and PSS in bytes, and false if it
// has none to read (it exited: a zombie's smaps_rollup is empty).
func smapsRollup(pid int) (rss, pss int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil || len(b) == 0 {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss = kb * 1024
		case "Pss:":
			pss = kb * 1024
		}
	}
	return rss, pss, rss > 0
}

func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".ts") {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Errorf("size of %s: %v", dir, err)
	}
	return n
}

func framesSent(cams []*synthcam.Camera) int64 {
	var total int64
	for _, c := range cams {
		total += c.FramesSent()
	}
	return total
}

// framesSkipped sums the frames the cameras skipped when they fell over a
// second behind (an overloaded machine), which the span count of
// recordedFrames cannot tell from frames the recorder lost.
func framesSkipped(cams []*synthcam.Camera) int64 {
	var total int64
	for _, c := range cams {
		total += c.FramesSkipped()
	}
	return total
}

// recordedFrames sums the frames of every segment `cctv list` reports,
// and counts the frames missing inside each camera's recorded span (first
// segment's start to last segment's end).
func recordedFrames(t *testing.T, bin, cfgPath string, fps float64) (recorded, lost int64) {
	out, err := exec.Command(bin, "--config", cfgPath, "list", "--json",
		"--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z").Output()
	if err != nil {
		t.Fatalf("cctv list: %v", err)
	}
	var list api.List
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list.Cameras {
		if len(c.Segments) == 0 {
			t.Errorf("camera %s recorded nothing", c.Camera)
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
