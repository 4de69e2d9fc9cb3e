// Package recorder turns RTSP cameras into sealed, indexed MPEG-TS segments.
//
// Each camera runs on its own goroutines: an RTSP session (gortsplib, over
// TCP or UDP) whose reader only depacketises and enqueues, and a writer that
// owns the open segment and cuts on the first keyframe after the target
// length, and a sealer that fsyncs the open segment every SyncInterval and
// seals finished ones through the store, so the writer never waits for the
// disk. A camera that fails, stalls or sends garbage is retried with capped,
// jittered backoff and a gap is recorded; it never affects another camera.
// Bitstreams are kept as sent.
//
// The recorder never touches the index itself: all of that goes through
// package store.
//
// Cost (issue 14, make bench-record): the recorder allocates nothing per
// packet or frame in steady state (gortsplib's TCP reader allocates each
// interleaved packet's payload, and v4.16.2 has no option to reuse it: a
// heap profile at 16 cameras shows 2.4 MB/s from it, 65% of what the process
// allocates, for a live heap of 13 MB); a writer never waits for a seal or
// an fsync (sealer) and the cameras' first segments are staggered, so their
// cuts and index commits do not fall in the same second. Nor does a writer
// wait while its next segment is created (the day directory, the file and
// its open entry are made durable before a byte is written, for crash
// safety): the file is created on a goroutine of its own while the writer
// holds the segment's frames in memory, up to HoldBytes, and writes them
// once it exists (segmenter); the gap closed and the state change at a
// session's first frame are committed off the writer too. At 64 cameras on a
// loaded two-core box (load 8-11) creation at start-up, when every camera
// creates its first segment at once, took 1.1 s (median) and up to 5.4 s,
// and 9 s in another run (the batched index commit up to 5.0 s, MkdirAll's
// directory fsyncs up to 3.7 s, the file's own up to 2.6 s; in steady state
// 20 ms); the writers held 175 frames (2.2 MB) meanwhile, median, and up to
// 274 (3.4 MB), more than the queue of 256 frames holds: an earlier run that
// waited for creation dropped 13,316 frames at start-up. Over five minutes
// at 64 cameras (load 8) one run dropped no frame and another 19, at
// start-up, with no packet lost, at 0.53-0.62 of ffmpeg's CPU. With other
// work on the box (load 25) a run dropped 2,005: 27 writers fell ten seconds
// behind (their whole queue in flight) though no hold reached its limit, so
// what still holds writers up on a starved box is not creation.
//
// Garbage collection keeps Go's default (GOGC=100, no memory limit),
// measured side by side at 16 cameras (make bench-record, 60 s windows,
// binary linked as scripts/go-build.sh links it): GOGC=100 gave 4.42-4.72
// MiB RSS per camera at 0.40-0.44 of ffmpeg's CPU (three runs); GOGC=50
// 4.04 MiB at 0.43 (one run); GOGC=25 3.84-3.94 MiB at 0.46-0.56 (five
// runs; the recorder at 0.31-0.38 % of a core per camera against
// 0.27-0.33 at 100), and at 4 cameras 0.65 % of a core per camera against
// 0.52. A tighter target buys memory (16 cameras under 4 MiB each) with
// CPU, and CPU is the scarcer of the two on a two-core box: the default
// stays. At 64 cameras over 5 minutes, nothing dropped in either: GOGC=100
// 3.61 MiB per camera at 0.46 of ffmpeg's CPU, GOGC=25 2.70 MiB at 0.44. Earlier, on a loaded box,
// GOGC=200 and 400 gave 7.7 and 15.4 MiB against 7.0 at 100, and no CPU
// back. GOGC set in the unit's environment overrides it, as for any Go
// program.
//
// Cameras over TCP are read on a shared beat (readPace, pacedConn) from
// sockets taken out of Go's network poller (beatConn): at 16 cameras the
// recorder had switched threads 2,376 times a second, woken for every
// picture of every camera and for every burst of packets landing on a
// socket in the poller's epoll set; on the beat it switches 500 times a
// second and costs 0.42-0.47 of ffmpeg's CPU (0.84-0.97 before). The
// writers' stall checks tick on the beat too, and the cameras fsync eight
// to a beat of the sync interval (syncOffset). Over five minutes at 64
// cameras (load 4-5.5, two runs) no frame was dropped and no packet lost,
// at 0.48 of ffmpeg's CPU. At 4 cameras the beat's fixed cost weighs more:
// 0.88-0.90. Later, with room in RSS (below), the beat went from 40 to 100
// ms: on one day's box, at 16 cameras, 0.57-0.67 of ffmpeg's CPU at 40 ms
// and 0.42-0.46 at 100 ms (four runs each); over five minutes at 64
// cameras 0.47 (two runs, load 4.7 and 9.2) with no packet lost and no
// frame dropped. The bench's count of frames missing from the recorded
// span (5 and 6) stays under what the synthetic cameras themselves skipped
// on the loaded box (81 and 334). Reading the sockets with raw system
// calls, which would not wake the runtime's monitor thread (a tenth of the
// CPU at 16 cameras in perf), gave nothing measurable and is not done.
//
// Most of the process's RSS was not the recorder's (issue 14, measured
// from /proc/PID/smaps of `cctv record` at 1, 4 and 16 cameras): before any
// camera, the FFmpeg libraries the one cctv binary links for export, stills
// and play held 42 MiB resident (215 shared objects through go-astiav: 33
// MiB shared clean text, 8.4 MiB private dirty relocated data; 82 of them,
// 17 MiB, come only through libavfilter and libavdevice, which go-astiav's
// cgo stubs reference whatever cctv calls) and the binary's own text and
// read-only data 15 MiB (all of it resident). scripts/go-build.sh links
// with lld after removing unreferenced sections, so those 82 are not
// loaded: 136 shared objects, and `cctv version` peaks at 38.8 MB resident
// instead of 60.1. Once start-up is over, the daemon hands back every page
// of its read-only file mappings that still holds the file's bytes
// (package residency): what recording touches comes back (at 16 cameras
// 11.5 MiB of the binary, under 4 MiB of libraries), the rest stays out
// until an export needs it. Side by side (make bench-record, 40 ms beat):
// 12.36 MiB a camera at 4 cameras and 4.27 at 16 without it, 6.75-6.96
// and 2.76-2.99 with it, at the same CPU; with the 100 ms beat 7.43 and
// 3.22-3.23, and 3.83 at 64 cameras. The Go heap, stacks and buffers grow
// by about 1 MiB a camera.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/store"
)

// Options configure a Recorder. Zero durations take the defaults noted.
type Options struct {
	Store   *store.Store // required; already recovered
	Cameras []CameraConfig

	Segment      time.Duration // target segment length; default 60 s
	SyncInterval time.Duration // fsync interval; default 1 s
	StallTimeout time.Duration // no frames for this long is a stall; default 10 s
	BackoffMin   time.Duration // first reconnect delay; default 1 s
	BackoffMax   time.Duration // reconnect delay cap; default 1 min
	// HealthyAfter is unused: a session that delivered frames resets the
	// backoff (issue 18). Kept so that callers setting it still build.
	HealthyAfter time.Duration
	// QueueFrames is how many frames may wait between a camera's reader
	// and its writer; default 256 (ten seconds at 25 fps: at 64 cameras
	// a loaded disk held writers up for five and more at start-up, issue
	// 14). Buffers are taken as needed and let go after (framePool), so a
	// long queue costs memory only while a writer is held up.
	QueueFrames int
	// HoldBytes is how many bytes of frames a writer may hold in memory
	// while its next segment's file is created (off the writer: see
	// segmenter); default 16 MiB, half a minute of a 4 Mbit/s camera. Frames
	// beyond are dropped, counted, and logged once per segment. Memory is
	// taken only while a creation is slow, and let go after.
	HoldBytes int
	// WedgedAfter is how long a camera loop may show no sign of life before
	// Wedged reports it; default BackoffMax + 2×StallTimeout + 30 s (a
	// healthy loop wakes at least on every frame, stall check and retry).
	WedgedAfter time.Duration

	// AllowedNetworks are the only addresses cameras may have (SPEC 3): a
	// camera whose host resolves outside them is refused before any packet
	// is sent, and put in the error state. Nil allows any address (tests).
	AllowedNetworks []netip.Prefix

	// BuildTime is the software's build date: a box clock before it is
	// plainly wrong and footage is flagged time-untrusted.
	BuildTime time.Time
	Clock     clock.Clock  // default clock.Real
	Logger    *slog.Logger // default slog.Default()

	// Event, if set, is told of events the store does not see itself:
	// "clock.jump" (params camera, by), for the audit log, and "disk.full"
	// (param camera), so deletion can make room at once. It must not block
	// for long.
	Event func(action string, params map[string]string)
}

// staggered is the target length of camera i's first segment (of n
// cameras): from the full length for the first camera down to half of it
// for the last. Cameras start together, so without it every camera would
// cut, seal and open its next file in the same second, every minute, and
// their fsyncs and index commits would queue behind each other (issue 14:
// writers stalled for seconds at 64 cameras). After the first segment each
// camera keeps its own phase.
func staggered(target time.Duration, i, n int) time.Duration {
	if n <= 1 {
		return target
	}
	return target - target/2*time.Duration(i)/time.Duration(n)
}

// Recorder records every configured camera.
type Recorder struct {
	opts    Options
	cameras []*Camera
}

// New checks the options and prepares one Camera per configured camera.
func New(opts Options) (*Recorder, error) {
	if opts.Store == nil {
		return nil, errors.New("recorder: no store")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.Segment, 60*time.Second)
	def(&opts.SyncInterval, time.Second)
	def(&opts.StallTimeout, 10*time.Second)
	def(&opts.BackoffMin, time.Second)
	def(&opts.BackoffMax, time.Minute)

	def(&opts.WedgedAfter, opts.BackoffMax+2*opts.StallTimeout+30*time.Second)
	if opts.QueueFrames <= 0 {
		opts.QueueFrames = 256
	}
	if opts.HoldBytes <= 0 {
		opts.HoldBytes = defaultHold
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Event == nil {
		opts.Event = func(string, map[string]string) {}
	}
	r := &Recorder{opts: opts}
	seen := map[string]bool{}
	for i, cfg := range opts.Cameras {
		if seen[cfg.ID] {
			return nil, fmt.Errorf("recorder: camera %q configured twice", cfg.ID)
		}
		seen[cfg.ID] = true
		c := &Camera{
			cfg:  cfg,
			opts: &r.opts,
			log:  opts.Logger.With("camera", cfg.ID),
			slot: i,
		}
		c.firstTarget.Store(int64(staggered(opts.Segment, i, len(opts.Cameras))))
		r.cameras = append(r.cameras, c)
	}
	return r, nil
}

// Run records until ctx ends, then closes and seals every open segment and
// records the gaps still open. It returns when every camera has stopped.
func (r *Recorder) Run(ctx context.Context) error {
	for _, c := range r.cameras {
		// An outage still open in the index (the recorder stopped while
		// the camera was down) goes on until this run records.
		out, ok, err := r.opts.Store.Outage(c.cfg.ID)
		if err != nil {
			return fmt.Errorf("read outage of camera %s: %w", c.cfg.ID, err)
		}
		// Footage is missing from the end of the last recording until this
		// run records its first frame.
		_, newest, n, err := r.opts.Store.Span(c.cfg.ID)
		if err != nil {
			return fmt.Errorf("read span of camera %s: %w", c.cfg.ID, err)
		}
		c.lastEnd = newest
		if ok {
			c.gapFrom, c.gapReason = out.From, out.Reason
			c.health.downSince.Store(out.From.UnixNano())
			continue
		}
		if n == 0 {
			continue
		}
		// Recovery may already have recorded a gap after the last segment
		// (a crash); this run's gap starts where the record ends.
		gaps, err := r.opts.Store.Gaps(c.cfg.ID, newest, newest.AddDate(100, 0, 0))
		if err != nil {
			return fmt.Errorf("read gaps of camera %s: %w", c.cfg.ID, err)
		}
		from := newest
		for _, g := range gaps {
			if !g.Ongoing && g.To.After(from) {
				from = g.To
			}
		}
		c.openGap(from, reasonRecorderStopped)
	}
	var wg sync.WaitGroup
	for _, c := range r.cameras {
		c.health.loopAlive.Store(time.Now().UnixNano())
		wg.Go(func() { c.Run(ctx) })
	}
	wg.Wait()
	return nil
}

// Health is a snapshot of one camera's live state.
type Health struct {
	Camera       string    `json:"camera"`
	State        string    `json:"state"`
	Reason       string    `json:"reason,omitempty"`
	Codec        string    `json:"codec,omitempty"`
	Transport    string    `json:"transport,omitempty"` // lower transport of the last session: "tcp" or "udp"
	Since        time.Time `json:"since"`
	LastFrame    time.Time `json:"last_frame,omitzero"`
	Frames       int64     `json:"frames"`
	Bytes        int64     `json:"bytes"`
	Dropped      int64     `json:"dropped_frames"` // access units left out: loss and what depended on it, slow disk, bad timestamps
	LostPackets  int64     `json:"lost_packets"`   // RTP packets that never arrived
	InputErrors  int64     `json:"input_errors"`   // muxer refusals of camera data (segment closed, recording went on)
	DecodeErrors int64     `json:"decode_errors"`
	// DownSince is when the ongoing outage began (zero while recording):
	// it stays put across retries, so a camera-down alert counts from it.
	DownSince  time.Time `json:"down_since,omitzero"`
	ClockJumps int64     `json:"clock_jumps"`
	LastJump   time.Time `json:"last_clock_jump,omitzero"`
	LoopAlive  time.Time `json:"-"` // last time the camera's loop proved it is not wedged
}

// Health returns the live state of every camera.
func (r *Recorder) Health() []Health {
	out := make([]Health, 0, len(r.cameras))
	for _, c := range r.cameras {
		h := &c.health
		h.mu.Lock()
		s := Health{Camera: c.cfg.ID, State: h.state, Reason: h.reason, Codec: h.codec, Transport: h.transport, Since: h.since}
		h.mu.Unlock()
		if ns := h.lastFrame.Load(); ns != 0 {
			s.LastFrame = time.Unix(0, ns).UTC()
		}
		s.Frames, s.Bytes = h.frames.Load(), h.bytes.Load()
		s.Dropped, s.DecodeErrors, s.ClockJumps = h.dropped.Load(), h.decodeErrors.Load(), h.clockJumps.Load()
		s.LostPackets, s.InputErrors = h.lostPackets.Load(), h.inputErrors.Load()
		if ns := h.downSince.Load(); ns != 0 {
			s.DownSince = time.Unix(0, ns).UTC()
		}
		if ns := h.lastJump.Load(); ns != 0 {
			s.LastJump = time.Unix(0, ns).UTC()
		}
		s.LoopAlive = time.Unix(0, h.loopAlive.Load())
		out = append(out, s)
	}
	return out
}

// Wedged returns the cameras whose loop has shown no sign of life for longer
// than WedgedAfter. The daemon withholds the systemd
// watchdog while any is wedged, so that systemd restarts it.
func (r *Recorder) Wedged() []string {
	limit := r.opts.WedgedAfter
	var out []string
	for _, c := range r.cameras {
		if time.Since(time.Unix(0, c.health.loopAlive.Load())) > limit {
			out = append(out, c.cfg.ID)
		}
	}
	return out
}
