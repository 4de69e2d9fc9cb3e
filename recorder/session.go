package recorder

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/council/cctv/internal/fsutil"
)

// UnsupportedCodecError means the camera offers no H.264 or H.265 video. It
// is a configuration problem on the camera, not a network fault.
type UnsupportedCodecError struct {
	Offered []string // the codecs the camera offered
}

func (e *UnsupportedCodecError) Error() string {
	return fmt.Sprintf("camera offers %v; only H.264 and H.265 video can be recorded: set the camera's stream to H.264 or H.265", e.Offered)
}

// UDPBindError means no UDP port pair could be bound for the camera's RTP
// and RTCP, udpBindAttempts times over: under the shipped unit that is
// SocketBindDeny= without a SocketBindAllow= for UDP. It is a configuration
// problem of the box, not a network fault. (gortsplib, asked for any port,
// retries without end: the camera sat at "connecting" with no alert, the
// daemon spun a core and missed SIGTERM.)
type UDPBindError struct {
	Err error // the last bind failure
}

func (e *UDPBindError) Error() string {
	return fmt.Sprintf("cannot bind a UDP port for RTP: %v; allow UDP ports in the unit (SocketBindAllow) or set transport = \"tcp\"", e.Err)
}

func (e *UDPBindError) Unwrap() error { return e.Err }

// udpBindAttempts is how many RTP/RTCP port pairs a UDP session tries.
const udpBindAttempts = 6

// listenPacketForTest, when set, replaces the camera's UDP listen (tests
// make bind fail with it; the VM rig exercises the real one).
var listenPacketForTest atomic.Pointer[func(network, address string) (net.PacketConn, error)]

// testOnlyBeforeWrite, if set (by tests, before recording starts), runs on
// a camera's writer before each frame is written: a test stalls the writer
// with it as a slow disk would.
var testOnlyBeforeWrite func(camera string)

// errStalled means the camera kept the session open but sent no frames.
var errStalled = errors.New("stalled")

// session is one RTSP connection to a camera: dial, describe, set up the
// video track, play, and hand frames to the segmenter until an error or ctx
// ends. It always seals what it wrote before returning.
type session struct {
	cam *Camera

	queue chan *frame // to the writer
	free  framePool   // recycled frames

	sender senderClock // camera wall clock from RTCP sender reports

	failed atomic.Pointer[error] // first error raised inside the reader callback
	failCh chan struct{}

	resync atomic.Bool // the writer dropped a frame: drop until the next keyframe

	lastPacket atomic.Int64 // unix ns of the last RTP packet received

	// marking runs recording(), once a session: closing the camera's gap
	// and its state change are index commits, which held writers up for as
	// long as 1.7 s at 64 cameras at start-up (issue 14), and would hold
	// the sealer's fsyncs up as long. The camera loop reads the gap only
	// after the session has waited for it.
	marking sync.WaitGroup

	// Reader-goroutine state: losses not yet attached to a frame.
	lost, dropped int64
}

// sessionResult tells the camera loop how the session went.
type sessionResult struct {
	connected bool      // the camera accepted PLAY
	recorded  bool      // at least one frame reached a segment
	lastEnd   time.Time // end of the last footage written
	err       error
}

// runSession runs one session over the camera's transport. A camera that
// refuses it at SETUP (461 Unsupported transport: a UDP-only camera asked
// for TCP interleaving, or the reverse) is asked again at once over the
// other, which is then kept for later connections, and the switch is
// logged and audited.
func (c *Camera) runSession(ctx context.Context) sessionResult {
	transport := c.transport()
	res := c.runSessionOver(ctx, transport)
	if !errors.Is(res.err, errTransportRefused) || ctx.Err() != nil {
		return res
	}
	other := "udp"
	if transport == "udp" {
		other = "tcp"
	}
	c.log.Info("camera refused transport; trying the other", "refused", transport, "transport", other)
	res2 := c.runSessionOver(ctx, other)
	if errors.Is(res2.err, errTransportRefused) {
		res2.err = fmt.Errorf("the camera refuses both tcp and udp: %w", res2.err)
		return res2
	}
	if res2.connected {
		c.useTransport.Store(&other)
		c.log.Warn("camera refuses its configured transport; recording over the other", "refused", transport, "transport", other)
		if c.opts.Event != nil {
			c.opts.Event("camera.transport", map[string]string{"camera": c.cfg.ID, "transport": other, "refused": transport})
		}
	}
	return res2
}

// transport is the lower transport to ask for: the configured one, or the
// one the camera accepted after refusing it.
func (c *Camera) transport() string {
	if t := c.useTransport.Load(); t != nil {
		return *t
	}
	if c.cfg.Transport == "udp" {
		return "udp"
	}
	return "tcp"
}

// errTransportRefused means the camera answered SETUP with 461 Unsupported
// transport.
var errTransportRefused = errors.New("camera refused the transport (461 Unsupported transport)")

// CredentialsError means the camera refused the user name or password
// (401): a configuration problem, not a network fault.
type CredentialsError struct {
	Camera string
	Err    error
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("wrong user name or password for camera %s (the camera answered 401 Unauthorized): correct its username or password_file", e.Camera)
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// rtspError turns a status the camera answered with into an error the
// camera loop can classify.
func (c *Camera) rtspError(op string, err error) error {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		switch bad.Code {
		case base.StatusUnauthorized:
			return &CredentialsError{Camera: c.cfg.ID, Err: err}
		case base.StatusUnsupportedTransport:
			return fmt.Errorf("%s: %w: %w", op, errTransportRefused, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (c *Camera) runSessionOver(ctx context.Context, transportName string) (res sessionResult) {
	s := &session{
		cam:    c,
		queue:  make(chan *frame, c.opts.QueueFrames),
		failCh: make(chan struct{}),
	}
	s.free.init(c.opts.QueueFrames)

	u, err := base.ParseURL(c.cfg.URL)
	if err != nil {
		return sessionResult{err: fmt.Errorf("parse camera url: %w", err)}
	}
	password := c.cfg.Password
	if c.cfg.LoadPassword != nil {
		if password, err = c.cfg.LoadPassword(); err != nil {
			return sessionResult{err: &PasswordFileError{Path: c.cfg.PasswordFile, Err: err}}
		}
	}
	if c.cfg.Username != "" {
		u.User = url.UserPassword(c.cfg.Username, password)
	}
	transport := gortsplib.TransportTCP
	if transportName == "udp" {
		transport = gortsplib.TransportUDP
	}
	binds := &bindLog{bind: c.listenUDP}
	if f := listenPacketForTest.Load(); f != nil {
		binds.bind = *f
	}
	client := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		Transport:    &transport,
		ReadTimeout:  c.opts.StallTimeout,
		DialContext:  c.dialAllowed,
		ListenPacket: binds.listen,
		// gortsplib prints to stderr unless these are set: its events go
		// to the structured log instead. Loss is counted per packet by the
		// depacketizer, which sees the sequence numbers after gortsplib's
		// reordering, and reaches the seals and status.
		OnPacketsLost:     func(uint64) {},
		OnDecodeError:     func(err error) { c.decodeError(err) },
		OnTransportSwitch: func(err error) { c.log.Info("rtsp client switched transport", "detail", err.Error()) },
	}
	if err := client.Start2(); err != nil {
		return sessionResult{err: fmt.Errorf("connect: %w", err)}
	}
	defer client.Close()
	stop := context.AfterFunc(ctx, client.Close)
	defer stop()

	desc, _, err := client.Describe(u)
	if err != nil {
		return sessionResult{err: c.rtspError("describe", err)}
	}
	medi, forma, err := findVideo(desc)
	if err != nil {
		return sessionResult{err: err}
	}
	dp, err := newDepacketizer(forma)
	if err != nil {
		return sessionResult{err: err}
	}
	if err := c.setup(client, binds, desc.BaseURL, medi, transport == gortsplib.TransportUDP); err != nil {
		return sessionResult{err: err}
	}

	s.sender.clockRate = int64(forma.ClockRate())
	client.OnPacketRTCP(medi, func(pkt rtcp.Packet) {
		if sr, ok := pkt.(*rtcp.SenderReport); ok {
			s.sender.report(sr.NTPTime, sr.RTPTime)
		}
	})
	client.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		s.onPacket(client, medi, dp, pkt)
	})
	if _, err := client.Play(nil); err != nil {
		return sessionResult{err: c.rtspError("play", err)}
	}
	res.connected = true
	c.health.setTransport(transportName)
	c.setState(StateConnected, "", dp.codec.String())

	clientErr := make(chan error, 1)
	clientDone := make(chan struct{})
	go func() {
		clientErr <- client.Wait()
		close(clientDone)
	}()

	seg := &segmenter{
		store:    c.opts.Store,
		camera:   c.cfg.ID,
		codec:    dp.codec,
		target:   c.opts.Segment,
		log:      c.log,
		untrusts: c.untrusted,
		floor:    c.lastEnd,
		first:    time.Duration(c.firstTarget.Swap(0)),
		sealer:   newSealer(c.log),
		holdMax:  c.opts.HoldBytes,
	}
	res = s.write(ctx, seg, clientErr)
	s.marking.Wait()
	if err := seg.sealer.close(); err != nil {
		res.err = errors.Join(res.err, &storageError{err})
	}
	res.connected = true
	client.Close()
	<-clientDone
	return res
}

// bindLog is a session's UDP listen, keeping its last failure.
type bindLog struct {
	bind func(network, address string) (net.PacketConn, error)
	mu   sync.Mutex
	err  error
}

func (b *bindLog) listen(network, address string) (net.PacketConn, error) {
	pc, err := b.bind(network, address)
	if err != nil {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return pc, err
}

// take returns the failure since the last take, if any.
func (b *bindLog) take() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.err
	b.err = nil
	return err
}

// setup sets the video track up. Over UDP it chooses the RTP/RTCP port pair
// itself, so that gortsplib binds once per attempt, and gives up with a
// UDPBindError after udpBindAttempts pairs that cannot be bound.
func (c *Camera) setup(client *gortsplib.Client, binds *bindLog, u *base.URL, medi *description.Media, udp bool) error {
	if !udp {
		if _, err := client.Setup(u, medi, 0, 0); err != nil {
			return c.rtspError("setup", err)
		}
		return nil
	}
	var bindErr error
	for range udpBindAttempts {
		rtp := 10000 + 2*rand.IntN((65535-10000)/2) // even, and rtp+1 <= 65535
		binds.take()
		_, err := client.Setup(u, medi, rtp, rtp+1)
		if err == nil {
			return nil
		}
		if bindErr = binds.take(); bindErr == nil {
			return c.rtspError("setup", err)
		}
	}
	return &UDPBindError{Err: bindErr}
}

// findVideo picks the first H.264 or H.265 track.
func findVideo(desc *description.Session) (*description.Media, format.Format, error) {
	var offered []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			switch f.(type) {
			case *format.H264, *format.H265:
				return m, f, nil
			}
			offered = append(offered, f.Codec())
		}
	}
	return nil, nil, &UnsupportedCodecError{Offered: offered}
}

// onPacket runs on gortsplib's reader goroutine. It never blocks: a frame that
// finds no free buffer is dropped and counted.
func (s *session) onPacket(client *gortsplib.Client, medi *description.Media, dp *depacketizer, pkt *rtp.Packet) {
	defer func() {
		if r := recover(); r != nil {
			s.fail(fmt.Errorf("panic decoding camera data: %v\n%s", r, debug.Stack()))
		}
	}()
	s.lastPacket.Store(time.Now().UnixNano())
	if s.resync.Swap(false) {
		dp.unsync()
	}
	h := &s.cam.health
	f := s.free.get()
	var dst []byte
	if f != nil {
		dst = f.data[:0]
	}
	data, pts, dts, key, err := dp.push(dst, pkt)
	lost, dropped := dp.takeCounts()
	if err == nil && f == nil {
		// The writer is behind (slow disk): drop this unit and, since later
		// ones may depend on it, the rest until the next keyframe.
		dropped++
		dp.unsync()
	}
	if lost != 0 || dropped != 0 {
		h.lostPackets.Add(lost)
		h.dropped.Add(dropped)
		s.lost += lost
		s.dropped += dropped
	}
	if err != nil || f == nil {
		if f != nil {
			f.data = data[:0]
			s.free.put(f)
		}
		if err != nil && !errors.Is(err, errNotReady) {
			h.decodeErrors.Add(1)
		}
		return
	}
	f.data, f.pts, f.dts, f.key = data, pts, dts, key
	f.lost, f.dropped, s.lost, s.dropped = s.lost, s.dropped, 0, 0
	f.arrival = s.cam.opts.Clock.Now()
	f.mono = time.Now()
	f.ntp, f.hasNTP = s.sender.at(pkt.Timestamp)
	s.queue <- f // never blocks: the queue holds every frame there is
}

func (s *session) fail(err error) {
	if s.failed.CompareAndSwap(nil, &err) {
		close(s.failCh)
	}
}

// write is the writer loop: frames to segments, periodic fsync, stall and
// clock-jump detection. It returns once the session is over, with the open
// segment sealed.
func (s *session) write(ctx context.Context, seg *segmenter, clientErr <-chan error) (res sessionResult) {
	c := s.cam
	syncTick := newBeatTicker(c.opts.SyncInterval, syncOffset(c.opts.SyncInterval, c.slot))
	defer syncTick.Stop()
	stallTick := newBeatTicker(min(c.opts.StallTimeout/4, time.Second), 0)
	defer stallTick.Stop()
	lastFrame := time.Now()
	var jumps jumpDetector

	finish := func(err error) sessionResult {
		// A session shorter than the preroll still files its frames, and
		// they end the camera's outage.
		opened, perr := seg.flushPreroll()
		if perr != nil {
			err = errors.Join(err, &storageError{perr})
		}
		end, cerr := seg.close(time.Time{})
		if opened.IsZero() {
			opened = seg.takeOpened() // its file came to exist in close
		}
		if !opened.IsZero() && !res.recorded {
			res.recorded = true
			s.marking.Go(func() { c.recording(opened) })
		}
		if !end.IsZero() {
			res.lastEnd = end
		}
		if cerr != nil {
			cerr = &storageError{cerr}
		}
		res.err = errors.Join(err, cerr)
		return res
	}

	for {
		select {
		case <-ctx.Done():
			return finish(nil)
		case err := <-clientErr:
			return finish(fmt.Errorf("connection lost: %w", err))
		case <-s.failCh:
			return finish(*s.failed.Load())
		case <-seg.sealer.errc:
			if err := seg.sealer.takeErr(); err != nil {
				return finish(&storageError{err})
			}
		case <-stallTick.C:
			stallTick.rearm()
			c.health.loopAlive.Store(time.Now().UnixNano())
			// A camera that sends nothing has stalled. One that sends
			// packets but no usable frame for longer than loss could
			// explain (the next keyframe) has stalled too.
			if since := time.Since(time.Unix(0, s.lastPacket.Load())); since > c.opts.StallTimeout && time.Since(lastFrame) > c.opts.StallTimeout {
				return finish(fmt.Errorf("%w: nothing received for %s", errStalled, c.opts.StallTimeout))
			}
			if time.Since(lastFrame) > 3*c.opts.StallTimeout {
				return finish(fmt.Errorf("%w: no usable frame for %s", errStalled, 3*c.opts.StallTimeout))
			}
		case <-syncTick.C:
			syncTick.rearm()
			if err := seg.sync(); err != nil {
				if fsutil.IsNoSpace(err) {
					c.opts.Event("disk.full", map[string]string{"camera": c.cfg.ID})
				}
				res.lastEnd = seg.fail(err)
				res.err = &storageError{err}
				return res
			}
		case f := <-s.queue:
			lastFrame = time.Now()
			if testOnlyBeforeWrite != nil {
				testOnlyBeforeWrite(c.cfg.ID)
			}
			// Both readings were taken at arrival: the time a frame waited
			// in the queue (the disk was slow) is no clock jump.
			if d := jumps.observe(f.arrival, f.mono); d != 0 {
				c.log.Warn("box clock jumped", "by", d.String())
				c.opts.Event("clock.jump", map[string]string{"camera": c.cfg.ID, "by": d.String()})
				c.health.clockJumps.Add(1)
				c.health.lastJump.Store(time.Now().UnixNano())
				seg.markJump()
			}
			opened, err := seg.write(f)
			if err == nil {
				c.health.frame(len(f.data))
				c.live.publish(f, seg.codec)
			}
			f.data = f.data[:0]
			s.free.put(f)
			var inErr *inputError
			switch {
			case errors.Is(err, errHoldFull):
				// Dropped by the segmenter (counted in its segment), as
				// the frames after it until a keyframe.
				c.health.dropped.Add(1)
				s.resync.Store(true)
				continue
			case errors.Is(err, errBadTiming):
				// Dropped by the segmenter (counted in its segment); what
				// depends on the frame goes too.
				c.health.dropped.Add(1)
				s.resync.Store(true)
				continue
			case errors.As(err, &inErr):
				// The muxer refused the camera's data: keep what is on
				// disk, carry on at the next keyframe in a new segment.
				c.log.Warn("muxer refused camera data; segment closed, recording carries on", "err", err)
				c.health.inputErrors.Add(1)
				if end := seg.fail(err); !end.IsZero() {
					res.lastEnd = end
				}
				s.resync.Store(true)
				continue
			}
			if err != nil {
				if end := seg.fail(err); !end.IsZero() {
					res.lastEnd = end
				}
				if fsutil.IsNoSpace(err) {
					c.opts.Event("disk.full", map[string]string{"camera": c.cfg.ID})
				}
				res.err = &storageError{err}
				return res
			}
			if !opened.IsZero() {
				if !res.recorded {
					res.recorded = true
					s.marking.Go(func() { c.recording(opened) })
				}
			}
		}
	}
}

// OutsideNetworkError means a camera's address is outside allowed_networks:
// the box talks to its cameras and nothing else.
type OutsideNetworkError struct {
	Host    string
	Addrs   []netip.Addr
	Allowed []netip.Prefix
}

func (e *OutsideNetworkError) Error() string {
	return fmt.Sprintf("camera host %s resolves to %v, outside allowed_networks %v: correct the camera's address or allowed_networks", e.Host, e.Addrs, e.Allowed)
}

// dialAllowed resolves the camera's host and dials only an address inside
// allowed_networks, so a name that resolves elsewhere (or changes to) is
// never contacted.
func (c *Camera) dialAllowed(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	var d net.Dialer
	for _, a := range addrs {
		a = a.Unmap()
		if c.allowed(a) {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err != nil {
				return nil, err
			}
			bc, err := detachConn(conn)
			if err != nil {
				conn.Close()
				return nil, fmt.Errorf("take the camera connection out of the network poller: %w", err)
			}
			return newPacedConn(bc), nil
		}
	}
	return nil, &OutsideNetworkError{Host: host, Addrs: addrs, Allowed: c.opts.AllowedNetworks}
}

func (c *Camera) allowed(a netip.Addr) bool {
	if c.opts.AllowedNetworks == nil {
		return true
	}
	for _, p := range c.opts.AllowedNetworks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
