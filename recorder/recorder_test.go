//go:build cgo

package recorder_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
)

// harness is a synthetic camera server and a real store on disk.
type harness struct {
	t     *testing.T
	cams  *synthcam.Server
	store *store.Store
	key   *boxkey.Key
	dir   string
}

func newHarness(t *testing.T, opts synthcam.ServerOptions) *harness {
	t.Helper()
	return newHarnessAt(t, opts, filepath.Join(t.TempDir(), "data"))
}

// newHarnessAt keeps the store in data (on a small filesystem, say).
func newHarnessAt(t *testing.T, opts synthcam.ServerOptions, data string) *harness {
	t.Helper()
	key, err := boxkey.Init(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Init(data, "test-box"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(data, store.Options{BoxID: "test-box", Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	cams, err := synthcam.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cams: cams, store: st, key: key, dir: data}
	t.Cleanup(func() {
		cams.Close()
		vs, err := st.Check(true, key.Verify)
		if err != nil {
			t.Errorf("check store: %v", err)
		}
		for _, v := range vs {
			t.Errorf("store invariant violated: %+v", v)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return h
}

func (h *harness) addCamera(cfg synthcam.CameraConfig) *synthcam.Camera {
	h.t.Helper()
	c, err := h.cams.AddCamera(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// start runs a recorder in the background; the returned function stops it
// and waits until every segment is sealed.
func (h *harness) start(opts recorder.Options) (*recorder.Recorder, func()) {
	h.t.Helper()
	opts.Store = h.store
	if opts.Segment == 0 {
		opts.Segment = 2 * time.Second
	}
	if opts.SyncInterval == 0 {
		opts.SyncInterval = 200 * time.Millisecond
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = 2 * time.Second
	}
	if opts.BackoffMin == 0 {
		opts.BackoffMin, opts.BackoffMax = 100*time.Millisecond, 500*time.Millisecond
	}
	rec, err := recorder.New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("recorder: %v", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Fatal("recorder did not stop within 10 s of shutdown")
		}
	}
	h.t.Cleanup(stop)
	return rec, stop
}

func (h *harness) segments(camera string) []store.Segment {
	h.t.Helper()
	segs, err := h.store.Segments(camera, time.Unix(0, 0), time.Now().Add(24*time.Hour))
	if err != nil {
		h.t.Fatal(err)
	}
	return segs
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func healthOf(rec *recorder.Recorder, camera string) recorder.Health {
	for _, h := range rec.Health() {
		if h.Camera == camera {
			return h
		}
	}
	return recorder.Health{}
}

// elementaryStream extracts the video elementary stream from a segment with
// the real ffmpeg, so NAL units can be searched without TS packetisation.
func elementaryStream(t *testing.T, path string, codec string) []byte {
	t.Helper()
	format := "h264"
	if codec == "h265" {
		format = "hevc"
	}
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0",
		"-c", "copy", "-f", format, "-").Output()
	if err != nil {
		t.Fatalf("extract elementary stream of %s: %v", path, err)
	}
	return out
}

func TestRecorder_RecordsH264OverTCPAndH265OverUDP(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{UDP: true})
	h.addCamera(synthcam.CameraConfig{Path: "door", Codec: media.H264, FPS: 25, GOP: 25, SEI: true})
	h.addCamera(synthcam.CameraConfig{Path: "hall", Codec: media.H265, FPS: 25, GOP: 25})
	_, stop := h.start(recorder.Options{Cameras: []recorder.CameraConfig{
		{ID: "door", URL: h.cams.URL("door"), Transport: "tcp"},
		{ID: "hall", URL: h.cams.URL("hall"), Transport: "udp"},
	}})
	waitFor(t, "three sealed segments per camera", 60*time.Second, func() bool {
		return len(h.segments("door")) >= 3 && len(h.segments("hall")) >= 3
	})
	stop()

	for _, cam := range []struct{ id, codec string }{{"door", "h264"}, {"hall", "h265"}} {
		segs := h.segments(cam.id)
		var sum time.Duration
		for i, s := range segs {
			if s.Codec != cam.codec {
				t.Errorf("%s: codec %q, want %q", s.File, s.Codec, cam.codec)
			}
			if s.State != "sealed" {
				t.Errorf("%s: state %q, want sealed", s.File, s.State)
			}
			p := testutil.FFprobe(t, s.Path)
			if p.Codec != map[string]string{"h264": "h264", "h265": "hevc"}[cam.codec] {
				t.Errorf("%s: ffprobe codec %q", s.File, p.Codec)
			}
			if len(p.Packets) == 0 || !p.Packets[0].Key {
				t.Errorf("%s: does not start with a keyframe", s.File)
			}
			if n := testutil.Decode(t, s.Path); int64(n) != s.Frames {
				t.Errorf("%s: ffmpeg decoded %d frames, seal says %d", s.File, n, s.Frames)
			}
			sealed := s.End.Sub(s.Start)
			if d := p.Duration() - sealed; d > 80*time.Millisecond || d < -80*time.Millisecond {
				t.Errorf("%s: ffprobe duration %s, seal %s", s.File, p.Duration(), sealed)
			}
			sum += sealed
			if i > 0 && !s.Start.Equal(segs[i-1].End) {
				// One timeline per session: segments meet exactly.
				t.Errorf("%s starts %s after the previous segment ends", s.File, s.Start.Sub(segs[i-1].End))
			}
		}
		// The synthetic cameras send RTCP sender reports from the box's own
		// clock: footage is filed by the box clock, and once a report has
		// arrived the camera's clock is measured, with a small offset.
		last := segs[len(segs)-1]
		if last.TimeSource != "arrival" || !last.CameraClock {
			t.Errorf("%s: time source %q, camera clock measured %v; want arrival, true", last.File, last.TimeSource, last.CameraClock)
		}
		if last.ClockOffsetMS > 500 || last.ClockOffsetMS < -500 {
			t.Errorf("%s: camera clock offset %d ms; both clocks are the box's", last.File, last.ClockOffsetMS)
		}
		total := segs[len(segs)-1].End.Sub(segs[0].Start)
		if d := total - sum; d > 200*time.Millisecond || d < -200*time.Millisecond {
			t.Errorf("%s: segments add up to %s but span %s", cam.id, sum, total)
		}
	}

	// The H.264 camera's SEI NAL units (as a camera's own signature would be)
	// are in the recording byte for byte, one per frame.
	for _, s := range h.segments("door") {
		es := elementaryStream(t, s.Path, "h264")
		n := bytes.Count(es, synthcam.SEIUUID[:])
		if int64(n) != s.Frames {
			t.Errorf("%s: %d SEI units for %d frames", s.File, n, s.Frames)
			continue
		}
		i := bytes.Index(es, synthcam.SEIUUID[:])
		// The counter follows the UUID, with emulation-prevention bytes.
		raw := bytes.ReplaceAll(es[i+16:min(len(es), i+16+16)], []byte{0, 0, 3}, []byte{0, 0})
		counter := binary.BigEndian.Uint64(raw[:8])
		if !bytes.Contains(es, synthcam.SEIPayload(counter)) {
			t.Errorf("%s: SEI of frame %d not recorded byte for byte", s.File, counter)
		}
	}
}

func TestRecorder_CameraDownThenBack_RecordsGapAndResumes(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{})
	cam := h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	rec, stop := h.start(recorder.Options{Cameras: []recorder.CameraConfig{{ID: "desk", URL: h.cams.URL("desk")}}})
	waitFor(t, "first segment", 30*time.Second, func() bool { return len(h.segments("desk")) >= 1 })

	down := time.Now()
	cam.Stop()
	waitFor(t, "camera down", 30*time.Second, func() bool { return healthOf(rec, "desk").State == recorder.StateDown })
	before := len(h.segments("desk"))
	since := healthOf(rec, "desk").DownSince
	time.Sleep(1500 * time.Millisecond) // the camera stays away for a while: this is the gap being tested
	// While it lasts, the outage is visible (issue 10): "down since" stays at
	// its start whatever the retries, and the index holds it as an ongoing gap.
	if hs := healthOf(rec, "desk"); since.IsZero() || !hs.DownSince.Equal(since) {
		t.Errorf("down since %s, then %s after retries; want the outage's start both times", since, hs.DownSince)
	}
	ongoing, err := h.store.Gaps("desk", down.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(ongoing) != 1 || !ongoing[0].Ongoing || !ongoing[0].From.Equal(since) {
		t.Errorf("gaps while down = %+v, want the ongoing outage from %s", ongoing, since)
	}
	states, err := h.store.CameraStates()
	if err != nil || len(states) != 1 || !states[0].DownSince.Equal(since) {
		t.Errorf("stored states %+v (%v), want down since %s", states, err, since)
	}
	up := time.Now()
	cam.Start()
	waitFor(t, "recording again", 30*time.Second, func() bool {
		return healthOf(rec, "desk").State == recorder.StateRecording && len(h.segments("desk")) > before
	})
	stop()

	gaps, err := h.store.Gaps("desk", down.Add(-time.Minute), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 {
		t.Fatalf("gaps = %+v, want exactly one", gaps)
	}
	g := gaps[0]
	if g.From.After(down.Add(500*time.Millisecond)) || g.From.Before(down.Add(-2*time.Second)) {
		t.Errorf("gap starts %s, camera stopped at %s", g.From, down)
	}
	if g.To.Before(up) {
		t.Errorf("gap ends %s, before the camera came back at %s", g.To, up)
	}
	if !strings.HasPrefix(g.Reason, "unreachable") && !strings.HasPrefix(g.Reason, "stalled") {
		t.Errorf("gap reason %q", g.Reason)
	}
	for _, s := range h.segments("desk") {
		if s.Start.Before(g.To) && s.End.After(g.From) && s.End.Sub(g.From) > 100*time.Millisecond && g.To.Sub(s.Start) > 100*time.Millisecond {
			t.Errorf("segment %s–%s overlaps gap %s–%s", s.Start, s.End, g.From, g.To)
		}
	}
}

func TestRecorder_UnsupportedCodec_ErrorStateOthersCarryOn(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{})
	h.addCamera(synthcam.CameraConfig{Path: "mjpeg", MJPEG: true})
	h.addCamera(synthcam.CameraConfig{Path: "good", Codec: media.H264, FPS: 25, GOP: 25})
	rec, stop := h.start(recorder.Options{Cameras: []recorder.CameraConfig{
		{ID: "mjpeg", URL: h.cams.URL("mjpeg")},
		{ID: "good", URL: h.cams.URL("good")},
	}})
	waitFor(t, "mjpeg camera in error state", 20*time.Second, func() bool {
		return healthOf(rec, "mjpeg").State == recorder.StateError
	})
	waitFor(t, "good camera recording", 30*time.Second, func() bool { return len(h.segments("good")) >= 2 })
	reason := healthOf(rec, "mjpeg").Reason
	if !strings.Contains(reason, "H.264") || !strings.Contains(strings.ToUpper(reason), "JPEG") {
		t.Errorf("reason %q should name what was offered and what is needed", reason)
	}
	states, err := h.store.CameraStates()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(states, func(s store.CameraState) bool { return s.Camera == "mjpeg" })
	if i < 0 || states[i].State != recorder.StateError {
		t.Errorf("stored state of mjpeg camera: %+v", states)
	}
	stop()
	if got := healthOf(rec, "good").State; got != recorder.StateStopped {
		t.Errorf("state after shutdown: %q, want %q", got, recorder.StateStopped)
	}
	if n := len(h.segments("mjpeg")); n != 0 {
		t.Errorf("mjpeg camera has %d segments", n)
	}
}

func TestRecorder_ClockJump_SplitsSegment(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{DisableRTCP: true})
	h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 10})
	clk := &clock.Shifted{}
	rec, stop := h.start(recorder.Options{
		Cameras: []recorder.CameraConfig{{ID: "desk", URL: h.cams.URL("desk")}},
		Segment: time.Minute,
		Clock:   clk,
	})
	waitFor(t, "recording", 30*time.Second, func() bool { return healthOf(rec, "desk").Frames > 30 })
	clk.Shift(time.Hour)
	waitFor(t, "segment cut at the jump", 30*time.Second, func() bool { return len(h.segments("desk")) >= 1 })
	waitFor(t, "frames after the cut", 30*time.Second, func() bool { return healthOf(rec, "desk").Frames > 60 })
	stop()
	segs := h.segments("desk")
	if len(segs) < 2 {
		t.Fatalf("%d segments, want the jump to split the recording in two", len(segs))
	}
	if segs[0].End.Sub(segs[0].Start) > 30*time.Second {
		t.Errorf("first segment lasts %s: not cut at the jump", segs[0].End.Sub(segs[0].Start))
	}
	if !slices.Contains(segs[1].Flags, "clock-jump") {
		t.Errorf("segment after the jump has flags %v, want clock-jump", segs[1].Flags)
	}
	if segs[1].Start.Sub(segs[0].End) < 50*time.Minute {
		t.Errorf("segment after the jump starts at %s, want about an hour after %s", segs[1].Start, segs[0].End)
	}
	if segs[0].TimeSource != "arrival" {
		t.Errorf("time source %q without RTCP, want arrival", segs[0].TimeSource)
	}
	if got := healthOf(rec, "desk").ClockJumps; got != 1 {
		t.Errorf("clock jumps counted: %d, want 1", got)
	}
}

// TestRecorder_SlowDisk_NoFalseClockJump: a writer held up for three
// seconds (a slow disk, or an index busy with other cameras' seals) finds
// its frames waiting in the queue; that is not a jump of the box clock, so
// nothing is split, flagged or dropped (issue 14: at 64 cameras the writers
// stalled at the same minute, every camera "saw" the clock jump by the
// stall, and the extra cuts made the next stall worse).
func TestRecorder_SlowDisk_NoFalseClockJump(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{DisableRTCP: true})
	h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	var n atomic.Int64
	restore := recorder.SetTestOnlyBeforeWrite(func(string) {
		if n.Add(1) == 40 {
			time.Sleep(3 * time.Second) // the stall itself, not a wait for an event
		}
	})
	defer restore()
	rec, stop := h.start(recorder.Options{
		Cameras: []recorder.CameraConfig{{ID: "desk", URL: h.cams.URL("desk")}},
		Segment: time.Minute,
	})
	waitFor(t, "frames after the stall", 60*time.Second, func() bool { return healthOf(rec, "desk").Frames > 150 })
	stop()
	hl := healthOf(rec, "desk")
	if hl.ClockJumps != 0 {
		t.Errorf("clock jumps counted: %d, want 0", hl.ClockJumps)
	}
	if hl.Dropped != 0 {
		t.Errorf("dropped frames: %d, want 0 (the queue holds a 3 s stall)", hl.Dropped)
	}
	segs := h.segments("desk")
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	if len(segs[0].Flags) != 0 {
		t.Errorf("segment flags %v, want none", segs[0].Flags)
	}
}

func TestRecorder_ClockBeforeBuildDate_MarksTimeUntrusted(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{})
	h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	_, stop := h.start(recorder.Options{
		Cameras:   []recorder.CameraConfig{{ID: "desk", URL: h.cams.URL("desk")}},
		BuildTime: time.Now().AddDate(1, 0, 0),
	})
	waitFor(t, "a segment", 30*time.Second, func() bool { return len(h.segments("desk")) >= 1 })
	stop()
	for _, s := range h.segments("desk") {
		if !slices.Contains(s.Flags, "time-untrusted") {
			t.Errorf("%s: flags %v, want time-untrusted", s.File, s.Flags)
		}
	}
}

// smallFS mounts a tmpfs of the given size for the test, or skips the test
// where that is impossible (not root, no mount permission).
func smallFS(t *testing.T, size string) string {
	t.Helper()
	testutil.NeedRoot(t, "it mounts a small tmpfs for a real disk-full")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		testutil.Missing(t, "cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func TestRecorder_DiskFull_ErrorStateGapThenResumes(t *testing.T) {
	mnt := smallFS(t, "8m")
	h := newHarnessAt(t, synthcam.ServerOptions{}, filepath.Join(mnt, "data"))
	h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25, Bitrate: 1_000_000})
	rec, stop := h.start(recorder.Options{Cameras: []recorder.CameraConfig{{ID: "desk", URL: h.cams.URL("desk")}}})
	waitFor(t, "a first segment", 30*time.Second, func() bool { return len(h.segments("desk")) >= 1 })

	// Fill the filesystem to the last byte: the segment and the index both
	// meet a full disk.
	ballast := filepath.Join(mnt, "ballast")
	free, _, err := fsutil.FreeSpace(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ballast, make([]byte, free+1<<20), 0o600); err != nil && !fsutil.IsNoSpace(err) {
		t.Fatal(err)
	}
	full := time.Now()
	waitFor(t, "camera in error state after the disk filled", 60*time.Second, func() bool {
		return healthOf(rec, "desk").State == recorder.StateError
	})
	if reason := healthOf(rec, "desk").Reason; !strings.Contains(reason, "no space") {
		t.Errorf("error reason %q should say the disk is full", reason)
	}

	// Room again: the camera comes back by itself.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	before := len(h.segments("desk"))
	waitFor(t, "recording again after space was freed", 60*time.Second, func() bool {
		return len(h.segments("desk")) > before+1
	})
	stop()
	gaps, err := h.store.Gaps("desk", full.Add(-time.Minute), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) == 0 || !strings.Contains(gaps[0].Reason, "no space") {
		t.Errorf("gaps %+v: want one whose reason says the disk was full", gaps)
	}
	for _, s := range h.segments("desk") {
		testutil.Decode(t, s.Path)
	}
}

func TestRecorder_HostOutsideAllowedNetworks_RefusedOthersRecord(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{})
	h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	// A camera by a name that resolves inside the allowed networks records;
	// the same name where the allowed network excludes loopback is refused.
	byName := strings.Replace(h.cams.URL("desk"), "127.0.0.1", "localhost", 1)
	_, stop := h.start(recorder.Options{
		Cameras:         []recorder.CameraConfig{{ID: "inside", URL: byName}},
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	})
	waitFor(t, "the camera inside the allowed networks to record", 30*time.Second, func() bool { return len(h.segments("inside")) >= 1 })
	stop()

	h2 := newHarness(t, synthcam.ServerOptions{})
	h2.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	rec2, stop2 := h2.start(recorder.Options{
		Cameras:         []recorder.CameraConfig{{ID: "outside", URL: strings.Replace(h2.cams.URL("desk"), "127.0.0.1", "localhost", 1)}},
		AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24")},
	})
	waitFor(t, "the camera outside the allowed networks to be refused", 20*time.Second, func() bool {
		return healthOf(rec2, "outside").State == recorder.StateError
	})
	reason := healthOf(rec2, "outside").Reason
	stop2()
	if !strings.Contains(reason, "outside allowed_networks") || !strings.Contains(reason, "localhost") {
		t.Errorf("reason %q should say the host resolves outside allowed_networks", reason)
	}
	if n := len(h2.segments("outside")); n != 0 {
		t.Errorf("%d segments recorded from a camera outside the allowed networks", n)
	}
}

func TestRecorder_PasswordFileMissing_ErrorNamesFile(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{})
	h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	missing := filepath.Join(t.TempDir(), "secrets", "desk")
	rec, stop := h.start(recorder.Options{Cameras: []recorder.CameraConfig{{
		ID: "desk", URL: h.cams.URL("desk"), Username: "cctv", PasswordFile: missing,
		LoadPassword: func() (string, error) {
			b, err := os.ReadFile(missing)
			return string(b), err
		},
	}}})
	waitFor(t, "error state", 30*time.Second, func() bool { return healthOf(rec, "desk").State == recorder.StateError })
	hs := healthOf(rec, "desk")
	stop()
	if !strings.Contains(hs.Reason, "password_file "+missing) || !strings.Contains(hs.Reason, "no such file") {
		t.Errorf("reason %q, want one naming the password_file and why", hs.Reason)
	}
}

// TestRecorder_UDPBindDenied_ErrorNotWedged: when bind(2) fails for every
// UDP port (SocketBindDeny= in the unit), a UDP camera's session gives up
// after a few port pairs with an error that says what to change, instead of
// gortsplib's endless retry; the TCP camera records on, the recorder stops
// promptly, and with bind allowed again the UDP camera records.
func TestRecorder_UDPBindDenied_ErrorNotWedged(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{UDP: true})
	h.addCamera(synthcam.CameraConfig{Path: "door", Codec: media.H264, FPS: 25, GOP: 25})
	h.addCamera(synthcam.CameraConfig{Path: "hall", Codec: media.H264, FPS: 25, GOP: 25})
	var binds atomic.Int64
	recorder.SetListenPacketForTest(func(network, address string) (net.PacketConn, error) {
		binds.Add(1)
		return nil, &net.OpError{Op: "listen", Net: network, Err: os.NewSyscallError("bind", syscall.EPERM)}
	})
	t.Cleanup(func() { recorder.SetListenPacketForTest(nil) })
	rec, stop := h.start(recorder.Options{Cameras: []recorder.CameraConfig{
		{ID: "door", URL: h.cams.URL("door"), Transport: "tcp"},
		{ID: "hall", URL: h.cams.URL("hall"), Transport: "udp"},
	}})
	waitFor(t, "the UDP camera in error", 30*time.Second, func() bool {
		return healthOf(rec, "hall").State == recorder.StateError
	})
	reason := healthOf(rec, "hall").Reason
	for _, want := range []string{"cannot bind a UDP port for RTP", "operation not permitted", "SocketBindAllow", `transport = "tcp"`} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q does not say %q", reason, want)
		}
	}
	waitFor(t, "the TCP camera recording meanwhile", 30*time.Second, func() bool { return len(h.segments("door")) >= 2 })
	// Bounded: a few port pairs per session, sessions retried with backoff
	// (100-500 ms here), not a spinning loop.
	n0 := binds.Load()
	time.Sleep(2 * time.Second)
	if n := binds.Load() - n0; n == 0 || n > 6*25 {
		t.Errorf("%d bind attempts in 2 s, want a bounded, non-zero number", n)
	}
	t0 := time.Now()
	stop()
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("stop took %s with the UDP camera failing to bind", d)
	}

	// Bind allowed again: the real listen records over UDP.
	recorder.SetListenPacketForTest(nil)
	before := len(h.segments("hall"))
	rec, stop = h.start(recorder.Options{Cameras: []recorder.CameraConfig{{ID: "hall", URL: h.cams.URL("hall"), Transport: "udp"}}})
	waitFor(t, "the UDP camera recording", 30*time.Second, func() bool { return len(h.segments("hall")) >= before+2 })
	if tr := healthOf(rec, "hall").Transport; tr != "udp" {
		t.Errorf("transport %q, want udp", tr)
	}
	stop()
}
