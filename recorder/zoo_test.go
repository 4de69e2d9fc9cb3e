//go:build cgo

package recorder_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/council/cctv/internal/camzoo"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
)

// zooCase is one camera of the zoo and what its recording must show.
type zooCase struct {
	cam       camzoo.Camera
	transport string  // "tcp" or "udp"
	coverage  float64 // recorded share of the time the camera was up
	lossy     bool    // the camera drops packets: losses must be counted, never reconnected
	offsetMS  int64   // expected camera clock offset when measured
	noClock   bool    // no RTCP at all: no offset may be claimed
	lateClock bool    // RTCP starts late: the first segment has none, later ones do
	fallback  string  // the transport the camera must end up recorded over
}

// ntpEpochMS is 1900-01-01 (the NTP epoch) to 1970-01-01 in milliseconds: a
// camera whose NTP time was never set sends sender reports near zero.
const ntpEpochMS = 2208988800 * 1000

// TestRecorder_Zoo records every camera of the zoo at once, from GStreamer's
// RTSP server (an RTSP stack independent of gortsplib), and judges the
// recording with ffmpeg and ffprobe: every segment decodes with zero
// messages, sealed frame counts equal ffprobe's, segments of a camera meet
// without overlap, and loss costs frames, never the session (issue 10).
func TestRecorder_Zoo(t *testing.T) {
	runZoo(t, []zooCase{
		{cam: camzoo.Camera{Path: "tcp-h264"}, transport: "tcp"},
		{cam: camzoo.Camera{Path: "udp-h264"}, transport: "udp"},
		{cam: camzoo.Camera{Path: "bframes", BFrames: 2}, transport: "tcp"},
		{cam: camzoo.Camera{Path: "h265-udp", Codec: "h265"}, transport: "udp"},
		{cam: camzoo.Camera{Path: "h265-ap", Codec: "h265", Params: "stap"}, transport: "tcp"},
		{cam: camzoo.Camera{Path: "pcma", Audio: "pcma"}, transport: "tcp"},
		{cam: camzoo.Camera{Path: "aac", Audio: "aac"}, transport: "udp"},
		{cam: camzoo.Camera{Path: "stap-a", Params: "stap"}, transport: "tcp"},
		{cam: camzoo.Camera{Path: "every-idr", Params: "every-idr"}, transport: "udp"},
		// Several slices with parameter sets in the SDP (before every slice:
		// TestRecorder_ZooClocksBFrames).
		{cam: camzoo.Camera{Path: "slices", Slices: 4}, transport: "tcp"},
		{cam: camzoo.Camera{Path: "fps12.5", FPS: "25/2", GOP: 12}, transport: "udp"},
		{cam: camzoo.Camera{Path: "fps30", FPS: "30/1", GOP: 30}, transport: "tcp"},
		{cam: camzoo.Camera{Path: "no-rtcp", RTCP: "none"}, transport: "udp", noClock: true},
		{cam: camzoo.Camera{Path: "late-rtcp", RTCP: "late", RTCPDelay: 6}, transport: "tcp", lateClock: true},
		{cam: camzoo.Camera{Path: "clock-2s", ClockOffsetMS: 2000}, transport: "tcp", offsetMS: 2000},
		{cam: camzoo.Camera{Path: "loss-1pc", Loss: 0.01, Seed: 7}, transport: "udp", coverage: 0.95, lossy: true},
		{cam: camzoo.Camera{Path: "marker-loss", MarkerLossEvery: 60}, transport: "tcp", coverage: 0.95, lossy: true},
		{cam: camzoo.Camera{Path: "hd-udp", Width: 1920, Height: 1080, Kbps: 8000, Pattern: "snow", GOP: 50}, transport: "udp"},
	}, false)
}

// TestRecorder_ZooClocksBFrames records the zoo's cameras of issue 18 the
// same way (after the others, so that fewer encoders compete for the
// cores): wrong camera clocks, encoder latency, B-frames from GStreamer's
// and ffmpeg's x264 (the latter through an RTSP relay), x265 open GOPs,
// keyframes in slices with parameter sets before each, cameras that refuse
// a transport, a rebooting B-frame camera and a wrong password.
func TestRecorder_ZooClocksBFrames(t *testing.T) {
	nowMS := time.Now().UnixMilli()
	runZoo(t, []zooCase{
		// Issue 18: cameras with wrong clocks are filed by the box's clock,
		// their own clock only measured.
		{cam: camzoo.Camera{Path: "clock-1970", ClockOffsetMS: -nowMS}, transport: "tcp", offsetMS: -nowMS},
		{cam: camzoo.Camera{Path: "clock-1900", ClockOffsetMS: -nowMS - ntpEpochMS}, transport: "udp", offsetMS: -nowMS - ntpEpochMS},
		{cam: camzoo.Camera{Path: "clock-slow30", ClockOffsetMS: -30000}, transport: "tcp", offsetMS: -30000},
		{cam: camzoo.Camera{Path: "clock-fast90", ClockOffsetMS: 90000}, transport: "udp", offsetMS: 90000},
		{cam: camzoo.Camera{Path: "latency-1800", LatencyMS: 1800}, transport: "tcp", offsetMS: -1800},
		// B-frames and open GOPs, and keyframes in several slices with the
		// parameter sets repeated before every slice.
		// (x265 puts leading pictures before a CRA when the GOP length is a
		// multiple of its mini-GOP: 24, not 25.)
		{cam: camzoo.Camera{Path: "h265-opengop", Codec: "h265", X265Defaults: true, GOP: 24}, transport: "tcp"},
		{cam: camzoo.Camera{Path: "slices-every-idr", Slices: 4, Params: "every-idr"}, transport: "tcp"},
		// A camera that refuses TCP interleaving (461), and one that
		// refuses UDP: each is recorded over the other transport.
		{cam: camzoo.Camera{Path: "udp-only", Protocols: "udp"}, transport: "tcp", fallback: "udp"},
		{cam: camzoo.Camera{Path: "tcp-only", Protocols: "tcp"}, transport: "udp", fallback: "tcp"},
	}, true)
}

// runZoo records cases from two zoo servers, plus a camera that reboots
// half way and one behind digest authentication (issue18: a B-frame camera
// that reboots, ffmpeg's B-frames through a relay and a wrong password),
// and judges every camera.
func runZoo(t *testing.T, cases []zooCase, issue18 bool) {
	camzoo.Require(t)
	if testing.Short() {
		t.Skip("camera zoo: -short")
	}
	const run = 22 * time.Second
	// CCTV_ZOO_ONLY=path,path runs only those cameras (while working on one).
	if only := os.Getenv("CCTV_ZOO_ONLY"); only != "" {
		var some []zooCase
		for _, tc := range cases {
			if strings.Contains(","+only+",", ","+tc.cam.Path+",") {
				some = append(some, tc)
			}
		}
		cases = some
	}
	// Two servers share the cameras: one GStreamer RTSP server prepares
	// the pipelines of its clients one at a time, and 30 at once on a
	// loaded machine time out.
	var halves [2][]camzoo.Camera
	for i, tc := range cases {
		halves[i%2] = append(halves[i%2], tc.cam)
	}
	zoos := [2]*camzoo.Server{camzoo.Start(t, camzoo.Spec{Cameras: halves[0]}), camzoo.Start(t, camzoo.Spec{Cameras: halves[1]})}
	// A camera that reboots half way (new SSRC, sequence numbers and
	// timestamps) and one behind digest authentication get servers of
	// their own.
	rebootCase := zooCase{cam: camzoo.Camera{Path: "reboot"}, transport: "tcp"}
	if issue18 {
		rebootCase = zooCase{cam: camzoo.Camera{Path: "reboot-bframes", BFrames: 2}, transport: "udp"}
	}
	rebooting := camzoo.Start(t, camzoo.Spec{Cameras: []camzoo.Camera{rebootCase.cam}})
	authed := camzoo.Start(t, camzoo.Spec{Cameras: []camzoo.Camera{{Path: "digest"}}, User: "cctv", Password: "s3cret pass"})
	extra := []zooCase{rebootCase}
	var published *camzoo.Published
	if issue18 {
		// B-frames as ffmpeg's x264 makes them and its RTP packetiser
		// sends them, through an RTSP relay (rtsp-server-perl; UDP only),
		// as a camera behind a media server.
		published = camzoo.Publish(t, "ffmpeg-bf2", "-c:v", "libx264", "-preset", "veryfast", "-bf", "2")
		extra = append(extra, zooCase{cam: camzoo.Camera{Path: "ffmpeg-bf2", BFrames: 2}, transport: "udp"})
	} else {
		extra = append(extra, zooCase{cam: camzoo.Camera{Path: "digest"}})
	}
	pwFile := filepath.Join(t.TempDir(), "digest.pw")
	if err := os.WriteFile(pwFile, []byte("s3cret pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t, synthcam.ServerOptions{})
	var cfgs []recorder.CameraConfig
	for i, tc := range cases {
		cfgs = append(cfgs, recorder.CameraConfig{ID: camID(tc.cam.Path), URL: zoos[i%2].URL(tc.cam.Path), Transport: tc.transport})
	}
	cfgs = append(cfgs, recorder.CameraConfig{ID: rebootCase.cam.Path, URL: rebooting.URL(rebootCase.cam.Path), Transport: rebootCase.transport})
	if issue18 {
		cfgs = append(cfgs,
			recorder.CameraConfig{ID: "ffmpeg-bf2", URL: published.URL, Transport: "udp"},
			recorder.CameraConfig{ID: "wrong-password", URL: authed.URL("digest"), Transport: "tcp", Username: "cctv", Password: "not it"})
	} else {
		cfgs = append(cfgs, recorder.CameraConfig{ID: "digest", URL: authed.URL("digest"), Transport: "udp", Username: "cctv",
			PasswordFile: pwFile, LoadPassword: func() (string, error) {
				b, err := os.ReadFile(pwFile)
				return strings.TrimSuffix(string(b), "\n"), err
			}})
	}
	began := time.Now()
	rec, stop := h.start(recorder.Options{Cameras: cfgs, Segment: 4 * time.Second, StallTimeout: 5 * time.Second})
	time.Sleep(run / 2) // the zoo runs in real time: this is the recording being tested
	rebooted := time.Now()
	rebooting.Reboot()
	time.Sleep(run / 2)
	ended := time.Now()
	health := map[string]recorder.Health{}
	for _, hs := range rec.Health() {
		health[hs.Camera] = hs
	}
	stop()

	type verdict struct {
		id   string
		errs []string
	}
	var (
		mu       sync.Mutex
		verdicts []verdict
		wg       sync.WaitGroup
	)
	judge := func(id string, tc zooCase, reboot bool) {
		errs := judgeZooCamera(t, h, id, tc, began, rebooted, ended, health[id], reboot)
		mu.Lock()
		verdicts = append(verdicts, verdict{id, errs})
		mu.Unlock()
	}
	sem := make(chan struct{}, 2) // two cores
	for _, tc := range append(cases, extra...) {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			judge(camID(tc.cam.Path), tc, strings.HasPrefix(tc.cam.Path, "reboot"))
		})
	}
	// Footage is filed by the box's clock, whatever the cameras' clocks
	// say: a first retention pass (30 days) finds nothing to delete.
	if cands, err := h.store.RetentionCandidates(time.Now(), store.RetentionPolicy{Default: 30 * 24 * time.Hour}, 0); err != nil || len(cands) != 0 {
		t.Errorf("the first retention pass would delete %d segments (%v): %+v", len(cands), err, cands)
	}
	// A wrong password is a credentials problem naming the camera, not an
	// unreachable camera.
	if hs := health["wrong-password"]; issue18 && (hs.State != recorder.StateError || !strings.Contains(hs.Reason, "wrong user name or password for camera wrong-password")) {
		t.Errorf("wrong-password: state %s: %s; want error: wrong user name or password", hs.State, hs.Reason)
	} else if strings.Contains(hs.Reason, "not it") {
		t.Errorf("wrong-password: the reason quotes the password: %s", hs.Reason)
	}
	wg.Wait()
	for _, v := range verdicts {
		for _, e := range v.errs {
			t.Errorf("%s: %s", v.id, e)
		}
	}
	if t.Failed() {
		t.Logf("zoo server logs:\n%s\n%s", zoos[0].Stderr(), zoos[1].Stderr())
		if published != nil {
			t.Logf("ffmpeg and relay:\n%s", published.Log())
		}
		// CCTV_ZOO_KEEP=dir keeps the recording for a closer look.
		if keep := os.Getenv("CCTV_ZOO_KEEP"); keep != "" {
			if err := exec.Command("cp", "-a", h.dir, keep).Run(); err != nil {
				t.Logf("keep recording: %v", err)
			}
		}
	}
}

// camID turns a zoo path into a camera id ([a-z0-9-]).
func camID(path string) string { return strings.ReplaceAll(path, ".", "-") }

// judgeZooCamera checks one camera's recording and returns what is wrong.
func judgeZooCamera(t *testing.T, h *harness, id string, tc zooCase, began, rebooted, ended time.Time, hs recorder.Health, reboot bool) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	segs, err := h.store.Segments(id, began.Add(-time.Minute), ended.Add(time.Minute))
	if err != nil {
		return []string{err.Error()}
	}
	gaps, err := h.store.Gaps(id, began.Add(-time.Minute), ended.Add(time.Minute))
	if err != nil {
		return []string{err.Error()}
	}
	if len(segs) < 3 {
		return []string{fmt.Sprintf("%d segments recorded, want at least 3 (state %s: %s)", len(segs), hs.State, hs.Reason)}
	}
	var recorded, explained time.Duration
	var lost, dropped int64
	for i, s := range segs {
		if msgs := ffmpegMessages(s.Path); msgs != "" {
			bad("%s: ffmpeg -v error says:\n%s", s.File, msgs)
		}
		// Packets without a timestamp are the parts FFmpeg's parser splits
		// an access unit into when parameter sets come before every slice.
		if n := testutil.FFprobe(t, s.Path).Timed(); int64(n) != s.Frames {
			bad("%s: sealed %d frames, ffprobe counts %d with a timestamp", s.File, s.Frames, n)
		}
		if tc.cam.X265Defaults && i > 0 {
			// Leading pictures of the CRA a segment starts with refer to
			// the segment before: the seal counts them, and a player
			// opening the file on its own decodes all but them.
			_, decoded, err := testutil.CountFrames(s.Path)
			if err != nil || s.LeadingFrames == 0 || int64(decoded) != s.Frames-s.LeadingFrames {
				bad("%s: sealed %d frames of which %d leading; ffprobe decodes %d (%v)", s.File, s.Frames, s.LeadingFrames, decoded, err)
			}
		}
		if s.State != store.SealSealed {
			bad("%s: seal state %s %v, want sealed", s.File, s.State, s.Flags)
		}
		recorded += s.End.Sub(s.Start)
		lost += s.LostPackets
		dropped += s.DroppedFrames
		switch {
		case tc.noClock && s.CameraClock:
			bad("%s: claims a camera clock offset (%d ms) from a camera that sends no RTCP", s.File, s.ClockOffsetMS)
		case tc.offsetMS != 0 && s.CameraClock && i > 0 && (s.ClockOffsetMS < tc.offsetMS-400 || s.ClockOffsetMS > tc.offsetMS+400):
			bad("%s: camera clock offset %d ms, want about %d", s.File, s.ClockOffsetMS, tc.offsetMS)
		case tc.offsetMS != 0 && s.CameraClock && i == 0 && (s.ClockOffsetMS < tc.offsetMS-4000 || s.ClockOffsetMS > tc.offsetMS+4000):
			// GStreamer's first sender report, sent while its pipeline
			// starts, can be seconds off the later ones on a loaded machine.
			bad("%s: camera clock offset %d ms, want about %d", s.File, s.ClockOffsetMS, tc.offsetMS)
		case tc.lateClock && i == 0 && s.CameraClock:
			bad("%s: first segment measured a camera clock before the first sender report", s.File)
		}
		if i == 0 {
			continue
		}
		prev := segs[i-1]
		switch hole := s.Start.Sub(prev.End); {
		case hole < 0:
			bad("%s overlaps %s by %s", s.File, prev.File, -hole)
		case hole > 0:
			if !gapCovers(gaps, prev.End, s.Start) {
				bad("unexplained hole of %s between %s and %s (gaps %+v)", hole, prev.File, s.File, gaps)
			}
			explained += hole
		}
	}
	if tc.lateClock && !segs[len(segs)-1].CameraClock {
		bad("the camera clock was never measured after its late sender reports")
	}
	if tc.offsetMS != 0 && !segs[len(segs)-1].CameraClock {
		bad("the camera clock was never measured")
	}
	first, last := segs[0].Start, segs[len(segs)-1].End
	// Some 35 GStreamer pipelines start at once on 2 shared cores (and a
	// camera refusing its transport is asked twice): a camera that did not
	// answer in time at start is a gap before its first footage, on record.
	upAt := began
	var startGaps []store.Gap
	for _, g := range gaps {
		if !g.To.After(first.Add(time.Millisecond)) && !reboot {
			startGaps = append(startGaps, g)
			upAt = g.To
		}
	}
	if d := first.Sub(upAt); d > 10*time.Second {
		bad("first footage %s after the recorder started (or its start-up gap ended)", d)
	}
	// The cameras' own encoders run on this machine too and lag behind on
	// busy cores: x265 more, a 1080p x264 camera by up to a GOP. What they
	// had not sent when the recorder stopped cannot be recorded.
	lag := 1500 * time.Millisecond
	switch {
	case tc.cam.Width >= 1920:
		lag = 4 * time.Second
	case tc.cam.Codec == "h265":
		lag = 2500 * time.Millisecond
	}
	if d := ended.Sub(last); d > lag || d < -500*time.Millisecond {
		bad("last footage ends %s before the recorder stopped", d)
	}
	want := tc.coverage
	if want == 0 {
		want = 0.97
	}
	up := last.Sub(first) - explained
	if share := float64(recorded) / float64(up); share < want {
		bad("recorded %s of %s up (%.1f%%), want at least %.0f%%", recorded, up, share*100, want*100)
	}
	if reboot {
		if len(gaps) != 1 || gaps[0].To.Before(rebooted) || gaps[0].From.After(rebooted.Add(2*time.Second)) {
			bad("gaps %+v, want one around the reboot at %s", gaps, rebooted)
		}
	} else {
		for _, g := range gaps[len(startGaps):] {
			// A camera that falls seconds behind real time (the 1080p
			// encoder on a loaded machine) is re-anchored at the box clock;
			// the time skipped is on record.
			if !strings.HasPrefix(g.Reason, "timeline re-anchored") {
				bad("gap %+v: the session must never end (state %s: %s)", g, hs.State, hs.Reason)
			} else {
				t.Logf("%s: %s", id, g.Reason)
			}
		}
	}
	if tc.lossy && (hs.LostPackets == 0 || lost == 0 || dropped == 0) {
		bad("losses not counted: status lost %d dropped %d; seals lost %d dropped %d", hs.LostPackets, hs.Dropped, lost, dropped)
	}
	if !tc.lossy && tc.transport == "tcp" && (lost != 0 || dropped != 0) {
		bad("seals count %d lost packets and %d dropped frames over TCP without loss", lost, dropped)
	}
	// Over UDP on the loopback a packet may be lost now and then, but a
	// stream the recorder cannot follow shows as frames dropped without
	// loss (B-frames whose decode times it got wrong, say).
	if !tc.lossy {
		var kept int64
		for _, s := range segs {
			kept += s.Frames
		}
		if dropped > lost*60+kept/100 {
			bad("%d frames dropped (%d recorded) for %d packets lost", dropped, kept, lost)
		}
	}
	if want := cmp.Or(tc.fallback, tc.transport); want != "" && hs.Transport != want {
		bad("recorded over %q, want %s", hs.Transport, want)
	}
	if hs.InputErrors != 0 {
		bad("%d muxer input errors", hs.InputErrors)
	}
	// Working copies are made the way export makes them and must play
	// without a warning, holding every frame they claim: across every
	// segment (so across the reconnection of a rebooted camera and the
	// first sender report of a late one), inside one segment, and across
	// a seam; and a still inside a segment (issue 18: B-frames, open GOPs,
	// multi-slice keyframes).
	var all int64
	for _, s := range segs {
		all += s.Frames
	}
	mid := segs[len(segs)/2]
	type window struct {
		name     string
		from, to time.Time
		frames   int64 // expected, 0: not known in advance
	}
	windows := []window{{"every segment", first, last, all}}
	thorough := tc.cam.BFrames > 0 || tc.cam.Codec == "h265" || tc.cam.Slices > 0 || reboot
	if thorough {
		// (Windows inside a segment and across a seam of every camera
		// would double the zoo's time; these are the cameras they test.)
		windows = append(windows,
			window{"inside one segment", mid.Start.Add(500 * time.Millisecond), mid.Start.Add(3 * time.Second), 0},
			window{"across a seam", mid.Start.Add(-1500 * time.Millisecond), mid.Start.Add(1500 * time.Millisecond), 0})
	}
	if tc.cam.Codec == "h265" && tc.cam.X265Defaults {
		// Leading frames after an open-GOP keyframe refer to the GOP before
		// it: the first segment has none, later ones decode with the
		// segment before.
		windows[0].frames = 0
	}
	for _, w := range windows {
		var srcs []media.Source
		for _, s := range segs {
			if s.Start.Before(w.to) && s.End.After(w.from.Add(-5*time.Second)) {
				srcs = append(srcs, media.Source{Path: s.Path, Start: s.Start})
			}
		}
		out := filepath.Join(t.TempDir(), id+".mp4")
		info, err := media.WriteClip(context.Background(), out, media.ClipOptions{Sources: srcs, From: w.from, To: w.to})
		if err != nil {
			bad("working copy %s: %v", w.name, err)
			continue
		}
		if msgs := ffmpegSays(out, "warning"); msgs != "" {
			bad("working copy %s: ffmpeg -v warning says:\n%s", w.name, msgs)
		}
		packets, decoded, err := testutil.CountFrames(out)
		switch {
		case err != nil:
			bad("working copy %s: %v", w.name, err)
		case int64(packets) != info.Frames || int64(decoded) != info.Frames:
			bad("working copy %s: claims %d frames, ffprobe reads %d packets and decodes %d frames", w.name, info.Frames, packets, decoded)
		case w.frames != 0 && info.Frames != w.frames:
			bad("working copy %s holds %d frames, the segments %d", w.name, info.Frames, w.frames)
		}
		if (info.Start.After(w.from.Add(time.Second)) || info.End.Before(w.to.Add(-time.Second))) && !gapWithin(gaps, w.from, w.to) {
			bad("working copy %s covers %s to %s, asked %s to %s", w.name, info.Start, info.End, w.from, w.to)
		}
	}
	if thorough {
		at := mid.Start.Add(1300 * time.Millisecond)
		if _, when, err := media.FrameAt(context.Background(), media.Source{Path: mid.Path, Start: mid.Start}, at); err != nil {
			bad("still: %v", err)
		} else if when.After(at) || at.Sub(when) > 100*time.Millisecond {
			bad("still at %s shows the frame of %s", at, when)
		}
	}
	t.Logf("%s: %d segments, recorded %s of %s, lost %d packets, dropped %d frames", id, len(segs), recorded.Round(time.Millisecond), up.Round(time.Millisecond), lost, dropped)
	return errs
}

// gapWithin reports whether a gap record overlaps [from, to).
func gapWithin(gaps []store.Gap, from, to time.Time) bool {
	for _, g := range gaps {
		if g.From.Before(to) && g.To.After(from) {
			return true
		}
	}
	return false
}

// gapCovers reports whether gap records cover [from, to).
func gapCovers(gaps []store.Gap, from, to time.Time) bool {
	for _, g := range gaps {
		if !g.From.After(from.Add(time.Millisecond)) && !g.To.Before(to.Add(-time.Millisecond)) {
			return true
		}
	}
	return false
}

// ffmpegMessages decodes path with ffmpeg -v error and returns what it said.
func ffmpegMessages(path string) string { return ffmpegSays(path, "error") }

// ffmpegSays decodes path with ffmpeg at log level and returns what it said.
func ffmpegSays(path, level string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", level, "-i", path, "-f", "null", "-")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("%v: %s", err, out.String())
	}
	return out.String()
}
