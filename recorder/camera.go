package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/council/cctv/store"
)

// Camera states, as shown by status and stored in the index.
const (
	StateConnecting = "connecting"
	StateConnected  = "connected" // session up, waiting for the first keyframe
	StateRecording  = "recording"
	StateDown       = "down"    // unreachable or stalled; retrying
	StateError      = "error"   // a fault that needs a person: unsupported codec, write error
	StateStopped    = "stopped" // the recorder was shut down
)

// CameraConfig is what the recorder needs to know about one camera.
type CameraConfig struct {
	ID        string
	URL       string // may carry credentials; never logged
	Username  string
	Password  string // never logged
	Transport string // "tcp" (default) or "udp"

	// PasswordFile names the file the password comes from, for messages;
	// LoadPassword, if set, reads it before every connection (a fixed file
	// is picked up without a restart) and overrides Password. An error from
	// it puts the camera in the error state with a reason naming the file.
	PasswordFile string
	LoadPassword func() (string, error) `json:"-"`
}

// PasswordFileError means the camera's password_file could not be read: a
// configuration problem on the box, not a camera fault.
type PasswordFileError struct {
	Path string
	Err  error
}

func (e *PasswordFileError) Error() string {
	return fmt.Sprintf("cannot read password_file %s: %v", e.Path, e.Err)
}

func (e *PasswordFileError) Unwrap() error { return e.Err }

// Camera records one camera, independently of every other.
type Camera struct {
	cfg  CameraConfig
	opts *Options
	log  *slog.Logger
	slot int // the camera's place in the configuration: spreads its fsyncs

	health health

	// The open gap: footage is missing from gapFrom until recording resumes.
	// It is in the store (OpenGap) while it lasts.
	gapFrom   time.Time
	gapReason string

	// lastEnd is the end of the footage written so far: a new session's
	// timeline never starts before it.
	lastEnd time.Time

	udpBufLogged atomic.Bool

	live fanout // live viewers of the frames written

	// firstTarget is the target length of the camera's first segment
	// (staggered), taken by the first session; 0 once taken.
	firstTarget atomic.Int64

	// useTransport is the transport the camera accepted after refusing
	// its configured one; nil: the configured one.
	useTransport atomic.Pointer[string]

	// Decode errors reported by the RTSP library: logged at most once per
	// decodeLogEvery, with how many were not logged.
	decodeLogAt    atomic.Int64
	decodeUnlogged atomic.Int64
}

// decodeLogEvery limits the log lines of the RTSP library's decode errors.
const decodeLogEvery = 30 * time.Second

// decodeError counts an error the RTSP library met decoding the camera's
// packets and logs it, rate-limited. It runs on the library's goroutine.
func (c *Camera) decodeError(err error) {
	c.health.decodeErrors.Add(1)
	now := time.Now().UnixNano()
	last := c.decodeLogAt.Load()
	if now-last < int64(decodeLogEvery) || !c.decodeLogAt.CompareAndSwap(last, now) {
		c.decodeUnlogged.Add(1)
		return
	}
	c.log.Warn("rtsp decode error", "err", c.redact(err.Error()), "not_logged_since_last", c.decodeUnlogged.Swap(0))
}

// health is the live state of a camera, read by status and the watchdog
// while the camera's goroutines update it.
type health struct {
	mu     sync.Mutex
	state  string
	reason string
	codec  string
	since  time.Time
	// transport is the lower transport of the last session ("tcp", "udp").
	transport string

	lastFrame    atomic.Int64 // unix ns of the last frame written
	frames       atomic.Int64
	bytes        atomic.Int64
	dropped      atomic.Int64 // access units left out (loss, slow disk, bad timestamps)
	lostPackets  atomic.Int64 // RTP packets that never arrived
	inputErrors  atomic.Int64 // muxer refusals of camera data (segment closed, recording went on)
	decodeErrors atomic.Int64
	downSince    atomic.Int64 // unix ns the ongoing outage started; 0 if none
	clockJumps   atomic.Int64
	lastJump     atomic.Int64 // unix ns of the last clock jump seen
	loopAlive    atomic.Int64 // unix ns the camera loop last proved alive
}

func (h *health) setTransport(t string) {
	h.mu.Lock()
	h.transport = t
	h.mu.Unlock()
}

func (h *health) frame(n int) {
	now := time.Now().UnixNano()
	h.lastFrame.Store(now)
	h.loopAlive.Store(now)
	h.frames.Add(1)
	h.bytes.Add(int64(n))
}

// Run records the camera until ctx ends. Camera faults are retried forever
// with capped, jittered backoff; it returns only when ctx ends.
func (c *Camera) Run(ctx context.Context) {
	bo := newBackoff(c.opts.BackoffMin, c.opts.BackoffMax, c.opts.Clock)
	lastReason := ""
	for first := true; ; first = false {
		if first {
			// Retries keep the state and reason of the fault (down,
			// error) until a session is up: status shows why, not
			// "connecting".
			c.setState(StateConnecting, "", "")
		}
		c.salvageAbandoned()
		res := c.runSession(ctx)
		if ctx.Err() != nil {
			// Shutdown: a gap still open (the camera was down) ends now; the
			// next run records the gap while the recorder itself was stopped.
			if !res.recorded {
				c.closeGapAtShutdown()
			}
			c.setState(StateStopped, "recorder stopped", "")
			return
		}
		if !res.lastEnd.IsZero() {
			c.lastEnd = res.lastEnd
		}
		if res.recorded {
			// A session that delivered frames was healthy: the camera's
			// next fault (a reboot, say) is retried from the shortest wait.
			lastReason = ""
			bo.Reset()
		}
		state, reason := classify(res.err)
		reason = c.redact(reason)
		switch {
		case !res.lastEnd.IsZero():
			c.openGap(res.lastEnd, reason)
		case c.gapFrom.IsZero():
			c.openGap(c.opts.Clock.Now().UTC(), reason)
		case c.gapReason == reasonRecorderStopped:
			c.openGap(c.gapFrom, reasonRecorderStopped+", then "+reason)
		}
		c.setState(state, reason, "")
		wait := bo.Next()
		var unsupported *UnsupportedCodecError
		if errors.As(res.err, &unsupported) {
			wait = c.opts.BackoffMax
		}
		// One line per change of fault; repeats of the same fault go to debug.
		level := slog.LevelWarn
		if reason == lastReason {
			level = slog.LevelDebug
		}
		lastReason = reason
		c.log.Log(ctx, level, "camera down", "state", state, "reason", reason, "retry_in", wait.Round(time.Millisecond).String())
		if !bo.Sleep(ctx, wait) {
			c.closeGapAtShutdown()
			c.setState(StateStopped, "recorder stopped", "")
			return
		}
	}
}

// classify turns a session error into a state and a reason for people.
func classify(err error) (state, reason string) {
	var unsupported *UnsupportedCodecError
	var outside *OutsideNetworkError
	var pwFile *PasswordFileError
	var creds *CredentialsError
	var bind *UDPBindError
	switch {
	case err == nil:
		return StateDown, "unreachable: session ended"
	case errors.As(err, &creds):
		return StateError, "error: " + creds.Error()
	case errors.As(err, &unsupported), errors.As(err, &outside), errors.As(err, &pwFile), errors.As(err, &bind):
		return StateError, "error: " + err.Error()
	case errors.Is(err, errStalled):
		return StateDown, "stalled: " + err.Error()
	case isStorageError(err):
		return StateError, "error: " + err.Error()
	default:
		return StateDown, "unreachable: " + err.Error()
	}
}

// storageError marks an error from writing footage rather than from the
// camera.
type storageError struct{ err error }

func (e *storageError) Error() string { return e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

func isStorageError(err error) bool {
	var se *storageError
	return errors.As(err, &se)
}

// reasonRecorderStopped is the gap reason for footage missing because the
// recorder itself was not running.
const reasonRecorderStopped = "recorder-stopped"

// openGap notes that footage stops at from (unless a gap is already open:
// then only its reason changes) and stores the ongoing outage at once, so
// status, list and export show it while it lasts.
func (c *Camera) openGap(from time.Time, reason string) {
	if c.gapFrom.IsZero() {
		c.gapFrom = from
		c.health.downSince.Store(from.UnixNano())
	}
	if reason != "" {
		c.gapReason = reason
	}
	if err := c.opts.Store.OpenGap(c.cfg.ID, c.gapFrom, c.gapReason); err != nil {
		c.log.Error("record ongoing gap", "from", c.gapFrom, "err", err)
	}
}

// recording is called when a session writes its first frame at t: it closes
// any open gap and marks the camera as recording.
func (c *Camera) recording(t time.Time) {
	if !c.gapFrom.IsZero() {
		c.storeGap(t)
	}
	c.setState(StateRecording, "", "")
	c.log.Info("camera recording")
}

func (c *Camera) closeGapAtShutdown() {
	if c.gapFrom.IsZero() {
		return
	}
	if c.gapReason == "" {
		c.gapReason = reasonRecorderStopped
		c.openGap(c.gapFrom, c.gapReason)
	}
	c.storeGap(c.opts.Clock.Now().UTC())
}

// storeGap ends the open gap at to: the ongoing outage becomes a gap record.
func (c *Camera) storeGap(to time.Time) {
	from := c.gapFrom
	c.gapFrom, c.gapReason = time.Time{}, ""
	c.health.downSince.Store(0)
	if _, _, err := c.opts.Store.CloseGap(c.cfg.ID, to); err != nil {
		c.log.Error("record gap", "from", from, "to", to, "err", err)
	}
}

// setState updates the live state and, on a change, the index.
func (c *Camera) setState(state, reason, codec string) {
	h := &c.health
	h.loopAlive.Store(time.Now().UnixNano())
	h.mu.Lock()
	if codec != "" {
		h.codec = codec
	}
	changed := h.state != state || h.reason != reason
	if changed {
		h.state, h.reason, h.since = state, reason, c.opts.Clock.Now().UTC()
	}
	st := store.CameraState{Camera: c.cfg.ID, State: state, Reason: reason, Since: h.since, Codec: h.codec}
	if ns := h.downSince.Load(); ns != 0 && state != StateRecording {
		st.DownSince = time.Unix(0, ns).UTC()
	}
	h.mu.Unlock()
	if !changed {
		return
	}
	if err := c.opts.Store.SetCameraState(st); err != nil {
		c.log.Error("store camera state", "err", err)
	}
}

// untrusted reports whether a box time is before the software's build date,
// which means the box clock is plainly wrong.
func (c *Camera) untrusted(t time.Time) bool {
	return !c.opts.BuildTime.IsZero() && t.Before(c.opts.BuildTime)
}

// redact removes the camera's credentials from a message (an error from a
// library may quote the URL it was given): secrets never reach logs, status
// or the index.
func (c *Camera) redact(msg string) string {
	if u, err := url.Parse(c.cfg.URL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "[redacted]")
		}
	}
	if c.cfg.Password != "" {
		msg = strings.ReplaceAll(msg, c.cfg.Password, "[redacted]")
	}
	return msg
}

// salvageAbandoned seals segments left open by an earlier failure (a full
// disk can refuse the index as well as the file) once the store can take
// them again.
func (c *Camera) salvageAbandoned() {
	acts, err := c.opts.Store.SalvageAbandoned(c.cfg.ID)
	if err != nil {
		c.log.Warn("salvage abandoned segment", "err", err)
	}
	for _, a := range acts {
		c.log.Info("salvaged abandoned segment", "action", a.Kind, "path", a.Path, "detail", a.Detail)
	}
}
