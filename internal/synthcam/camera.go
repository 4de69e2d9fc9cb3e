package synthcam

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/council/cctv/internal/media"
)

// CameraConfig describes a synthetic camera. Zero fields take the defaults
// noted on each.
type CameraConfig struct {
	// Path is the RTSP path, such as "front-desk" (no leading slash).
	Path string
	// Codec is media.H264 (the default) or media.H265.
	Codec media.Codec
	// Width and Height default to 320x240.
	Width, Height int
	// FPS defaults to 25 frames per second.
	FPS int
	// GOP is the keyframe interval in frames; it defaults to 50.
	GOP int
	// Bitrate is in bits per second; it defaults to 500 kbit/s.
	Bitrate int
	// ClipFrames is the length of the looped clip; it defaults to 2*GOP.
	ClipFrames int
	// SEI injects a user_data_unregistered SEI NAL unit before the slices
	// of every frame: SEIUUID then the camera's frame counter (see
	// SEIPayload). It defaults to false.
	SEI bool
	// StillFrames is how many frames at the start of each loop of the clip
	// show one unchanging picture: a still scene, then motion, for tests of
	// the activity index. It defaults to 0 (always moving).
	StillFrames int
	// MJPEG announces an MJPEG-only stream instead (no frames are sent), to
	// test how clients handle an unsupported codec. It defaults to false.
	MJPEG bool
}

func (cfg CameraConfig) withDefaults() CameraConfig {
	if cfg.Codec == 0 {
		cfg.Codec = media.H264
	}
	if cfg.Width == 0 && cfg.Height == 0 {
		cfg.Width, cfg.Height = 320, 240
	}
	if cfg.FPS == 0 {
		cfg.FPS = 25
	}
	if cfg.GOP == 0 {
		cfg.GOP = 50
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = 500_000
	}
	if cfg.ClipFrames == 0 {
		cfg.ClipFrames = 2 * cfg.GOP
	}
	return cfg
}

func (cfg CameraConfig) validate() error {
	switch {
	case cfg.Path == "" || strings.HasPrefix(cfg.Path, "/") || strings.ContainsAny(cfg.Path, "?# "):
		return errors.New("path must be non-empty, without leading slash, '?', '#' or space")
	case cfg.Codec != media.H264 && cfg.Codec != media.H265:
		return fmt.Errorf("unsupported codec %v", cfg.Codec)
	case cfg.FPS < 1 || cfg.FPS > 240:
		return fmt.Errorf("fps %d out of range 1-240", cfg.FPS)
	case cfg.ClipFrames < 1:
		return fmt.Errorf("clip frames %d must be positive", cfg.ClipFrames)
	}
	return nil
}

func (cfg CameraConfig) encodeConfig() media.EncodeConfig {
	return media.EncodeConfig{
		Codec: cfg.Codec, Width: cfg.Width, Height: cfg.Height,
		FPS: cfg.FPS, GOP: cfg.GOP, Bitrate: cfg.Bitrate, Still: cfg.StillFrames,
	}
}

// Camera is one synthetic camera of a Server.
type Camera struct {
	s    *Server
	cfg  CameraConfig
	log  *slog.Logger
	clip *clip // nil for MJPEG

	frames  atomic.Int64 // frames sent, across restarts
	skipped atomic.Int64 // frames never sent: the camera fell over a second behind

	mu     sync.Mutex
	stream *gortsplib.ServerStream // nil while stopped
	stop   chan struct{}           // closed to end the streaming goroutine
	done   chan struct{}           // closed when it has ended
	next   uint64                  // frame counter of the next frame, across restarts (see run)
}

// FramesSent returns the number of frames the camera has written to its
// stream since it was added (whether or not anybody was watching).
func (c *Camera) FramesSent() int64 { return c.frames.Load() }

// FramesSkipped returns the frames the camera never sent because it fell
// more than a second behind its clock (the machine was overloaded) and
// skipped ahead.
func (c *Camera) FramesSkipped() int64 { return c.skipped.Load() }

// Stop takes the camera down: streaming stops, the stream is closed (every
// session on it ends) and DESCRIBE answers 503 until Start. It is
// idempotent and returns once the camera's goroutine has ended.
func (c *Camera) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return
	}
	if c.stop != nil {
		close(c.stop)
		<-c.done
		c.stop, c.done = nil, nil
	}
	c.stream.Close()
	c.stream = nil
	c.log.Debug("synthcam camera stopped")
}

// Start brings a stopped camera back with a new stream (new SSRC, and RTP
// timestamps continuing from where they were). It does nothing if the
// camera is running or the server is closed.
func (c *Camera) Start() {
	c.s.mu.Lock()
	closed := c.s.closed
	c.s.mu.Unlock()
	if closed {
		return
	}
	if err := c.start(); err != nil {
		// Only ServerStream initialisation can fail, and it does not for
		// a running server.
		c.log.Error("synthcam camera start", "err", err)
	}
}

func (c *Camera) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil {
		return nil
	}
	medi := &description.Media{Type: description.MediaTypeVideo}
	switch {
	case c.cfg.MJPEG:
		medi.Formats = []format.Format{&format.MJPEG{}}
	case c.cfg.Codec == media.H265:
		medi.Formats = []format.Format{&format.H265{
			PayloadTyp: 96, VPS: c.clip.vps, SPS: c.clip.sps, PPS: c.clip.pps,
		}}
	default:
		medi.Formats = []format.Format{&format.H264{
			PayloadTyp: 96, PacketizationMode: 1, SPS: c.clip.sps, PPS: c.clip.pps,
		}}
	}
	st := &gortsplib.ServerStream{
		Server: c.s.rtsp,
		Desc:   &description.Session{Medias: []*description.Media{medi}},
	}
	if err := st.Initialize(); err != nil {
		return fmt.Errorf("initialize stream: %w", err)
	}
	c.stream = st
	if !c.cfg.MJPEG {
		enc, err := newPacketizer(medi.Formats[0])
		if err != nil {
			st.Close()
			c.stream = nil
			return err
		}
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		go c.run(st, medi, enc, c.next, c.stop, c.done)
	}
	c.log.Debug("synthcam camera started", "codec", c.cfg.Codec, "url", c.s.URL(c.cfg.Path))
	return nil
}

func (c *Camera) currentStream() *gortsplib.ServerStream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stream
}

type packetizer interface {
	Encode(au [][]byte) ([]*rtp.Packet, error)
}

func newPacketizer(f format.Format) (packetizer, error) {
	switch f := f.(type) {
	case *format.H264:
		e, err := f.CreateEncoder()
		if err != nil {
			return nil, fmt.Errorf("create h264 rtp encoder: %w", err)
		}
		return e, nil
	case *format.H265:
		e, err := f.CreateEncoder()
		if err != nil {
			return nil, fmt.Errorf("create h265 rtp encoder: %w", err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("no rtp encoder for %s", f.Codec())
}

// run streams the clip in real time from frame counter first until stop is
// closed or the stream is closed, then records where it got to.
func (c *Camera) run(st *gortsplib.ServerStream, medi *description.Media, enc packetizer,
	first uint64, stop <-chan struct{}, done chan<- struct{},
) {
	defer close(done)
	fps := uint64(c.cfg.FPS)
	var rtpBase uint32
	{
		var b [4]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		rtpBase = binary.BigEndian.Uint32(b[:])
	}
	frameDur := time.Second / time.Duration(fps)
	ticker := time.NewTicker(frameDur)
	defer ticker.Stop()

	var (
		t0       = time.Now() // wall-clock time of frame `base`
		base     = first
		n        = first // next frame counter
		nalus    [][]byte
		seiBuf   []byte
		sr       rtcp.SenderReport
		lastSR   time.Time
		srPeriod = c.s.opts.SenderReportPeriod
	)
	// Only this goroutine writes c.next while it runs; Stop reads it
	// after done is closed, and start before the next goroutine exists.
	defer func() { c.next = n }()

	send := func() error {
		au := &c.clip.aus[n%uint64(len(c.clip.aus))]
		nalus = nalus[:0]
		if c.cfg.SEI {
			seiBuf = appendSEINALU(seiBuf[:0], c.cfg.Codec, n)
			injected := false
			for _, nalu := range au.NALUs {
				if !injected && isVCL(c.cfg.Codec, nalu) {
					nalus = append(nalus, seiBuf)
					injected = true
				}
				nalus = append(nalus, nalu)
			}
		} else {
			nalus = append(nalus, au.NALUs...)
		}
		pkts, err := enc.Encode(nalus)
		if err != nil {
			return fmt.Errorf("packetize frame %d: %w", n, err)
		}
		ts := rtpBase + uint32(n*90000/fps) // wraps, like any RTP clock
		ntp := t0.Add(time.Duration(n-base) * time.Second / time.Duration(fps))
		for _, pkt := range pkts {
			pkt.Timestamp = ts
			if err := st.WritePacketRTPWithNTP(medi, pkt, ntp); err != nil {
				return err
			}
			sr.PacketCount++
			sr.OctetCount += uint32(len(pkt.Payload))
		}
		n++
		c.frames.Add(1)
		if !c.s.opts.DisableRTCP && (lastSR.IsZero() || ntp.Sub(lastSR) >= srPeriod) {
			// gortsplib has set the stream's SSRC in the packets.
			sr.SSRC = pkts[0].SSRC
			sr.NTPTime = ntpTime(ntp)
			sr.RTPTime = ts
			if err := st.WritePacketRTCP(medi, &sr); err != nil {
				return err
			}
			lastSR = ntp
		}
		return nil
	}

	for {
		// Send every frame that is due, so that a late tick does not slow
		// the camera's clock down.
		due := base + uint64(time.Since(t0)/frameDur) + 1
		if due-n > fps {
			// More than a second behind (the machine is overloaded):
			// skip ahead, as a real camera's clock would.
			c.skipped.Add(int64(due - n - 1))
			t0, base = time.Now(), n
			due = n + 1
		}
		for n < due {
			if err := send(); err != nil {
				if !errors.As(err, &liberrors.ErrServerStreamClosed{}) {
					c.log.Warn("synthcam camera stream", "err", err)
				}
				return
			}
		}
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
	}
}

// ntpTime converts t to the 64-bit NTP format of RTCP sender reports.
func ntpTime(t time.Time) uint64 {
	ns := uint64(t.UnixNano()) + 2208988800*uint64(time.Second)
	sec := ns / uint64(time.Second)
	frac := (ns % uint64(time.Second)) << 32 / uint64(time.Second)
	return sec<<32 | frac
}
