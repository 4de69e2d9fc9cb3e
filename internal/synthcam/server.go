package synthcam

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

// ServerOptions configure a Server. The zero value serves RTSP over TCP
// only, with sender reports every second and no logging.
type ServerOptions struct {
	// Host is the IP address to listen on (RTSP and UDP). It defaults to
	// 127.0.0.1.
	Host string
	// UDP also serves RTP/RTCP over UDP, on a free even port and the next
	// one, on Host. It defaults to false (TCP only).
	UDP bool
	// DisableRTCP turns off RTCP sender reports, so clients never learn the
	// camera's wall-clock time (to test the arrival-time fallback). It
	// defaults to false.
	DisableRTCP bool
	// SenderReportPeriod is the interval between RTCP sender reports of a
	// camera. It defaults to 1 second (gortsplib's own 10 s period cannot be
	// changed, so the cameras send their reports themselves).
	SenderReportPeriod time.Duration
	// WriteQueueSize is the number of packets queued for each client
	// before the server drops them (a power of two). It defaults to
	// gortsplib's 256, about half a second of a 4 Mbit/s camera.
	WriteQueueSize int
	// Logger receives lifecycle events at Debug level. It defaults to
	// discarding them.
	Logger *slog.Logger
}

// Server is an RTSP server for synthetic cameras, listening on one address.
type Server struct {
	opts ServerOptions
	log  *slog.Logger
	rtsp *gortsplib.Server
	addr string // host:port of the RTSP listener

	mu      sync.Mutex
	cameras map[string]*Camera
	closed  bool

	// Packets the server could not queue for a slow client (gortsplib's
	// write queue was full), by the client's User-Agent.
	agents sync.Map // *gortsplib.ServerSession → User-Agent
	drops  sync.Map // User-Agent → *atomic.Int64
}

// WriteQueueDrops returns how many packets the server dropped because a
// client did not read them fast enough (its write queue was full), by the
// User-Agent the client sent at SETUP. A real camera drops the same way
// when a client falls behind.
func (s *Server) WriteQueueDrops() map[string]int64 {
	m := map[string]int64{}
	s.drops.Range(func(k, v any) bool {
		m[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return m
}

// NewServer starts a server on opts.Host with a port chosen by the system.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	ip := net.ParseIP(opts.Host)
	if ip == nil {
		return nil, fmt.Errorf("start synthcam server: host %q is not an IP address", opts.Host)
	}
	if opts.SenderReportPeriod <= 0 {
		opts.SenderReportPeriod = time.Second
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		cameras: make(map[string]*Camera),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(opts.Host, "0"))
	if err != nil {
		return nil, fmt.Errorf("start synthcam server: listen tcp: %w", err)
	}
	s.addr = ln.Addr().String()
	// Hand the already-bound sockets to gortsplib, so no port is ever
	// guessed and then raced for.
	packetConns := map[string]net.PacketConn{}
	s.rtsp = &gortsplib.Server{
		Handler:        &handler{s: s},
		RTSPAddress:    s.addr,
		WriteQueueSize: opts.WriteQueueSize,
		// Sender reports are written by the cameras (see SenderReportPeriod).
		DisableRTCPSenderReports: true,
		Listen: func(network, address string) (net.Listener, error) {
			if address == s.addr && ln != nil {
				l := ln
				ln = nil
				return l, nil
			}
			return net.Listen(network, address)
		},
		ListenPacket: func(network, address string) (net.PacketConn, error) {
			if pc, ok := packetConns[address]; ok {
				delete(packetConns, address)
				return pc, nil
			}
			return net.ListenPacket(network, address)
		},
	}
	if opts.UDP {
		rtp, rtcp, err := listenUDPPair(ip)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("start synthcam server: %w", err)
		}
		s.rtsp.UDPRTPAddress = rtp.LocalAddr().String()
		s.rtsp.UDPRTCPAddress = rtcp.LocalAddr().String()
		packetConns[s.rtsp.UDPRTPAddress] = rtp
		packetConns[s.rtsp.UDPRTCPAddress] = rtcp
	}
	if err := s.rtsp.Start(); err != nil {
		if ln != nil {
			ln.Close()
		}
		for _, pc := range packetConns {
			pc.Close()
		}
		return nil, fmt.Errorf("start synthcam server: %w", err)
	}
	// Sockets gortsplib did not ask for (it always asks) would leak here.
	for _, pc := range packetConns {
		pc.Close()
	}
	s.log.Debug("synthcam server started", "addr", s.addr, "udp", opts.UDP)
	return s, nil
}

// listenUDPPair binds an even UDP port and the next one on ip, as RTP/RTCP
// over UDP requires.
func listenUDPPair(ip net.IP) (rtp, rtcp *net.UDPConn, err error) {
	for range 100 {
		rtp, err = net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		port := rtp.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 0 {
			rtcp, err = net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port + 1})
			if err == nil {
				return rtp, rtcp, nil
			}
		}
		rtp.Close()
	}
	return nil, nil, errors.New("listen udp: no free even/odd port pair found")
}

// URL returns the RTSP URL of path, rtsp://HOST:PORT/path.
func (s *Server) URL(path string) string {
	return "rtsp://" + s.addr + "/" + path
}

// Close stops every camera, ends every session and stops listening. It is
// idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	cams := make([]*Camera, 0, len(s.cameras))
	for _, c := range s.cameras {
		cams = append(cams, c)
	}
	s.mu.Unlock()

	for _, c := range cams {
		c.Stop()
	}
	s.rtsp.Close()
	s.log.Debug("synthcam server closed", "addr", s.addr)
}

// AddCamera creates a camera at cfg.Path (after applying defaults), encodes
// its clip unless one with the same parameters is cached, and starts
// streaming.
func (s *Server) AddCamera(cfg CameraConfig) (*Camera, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("add camera %q: %w", cfg.Path, err)
	}
	c := &Camera{s: s, cfg: cfg, log: s.log.With("camera", cfg.Path)}
	if !cfg.MJPEG {
		var err error
		if c.clip, err = loadClip(cfg.encodeConfig(), cfg.ClipFrames); err != nil {
			return nil, fmt.Errorf("add camera %q: %w", cfg.Path, err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("add camera %q: server closed", cfg.Path)
	}
	if _, ok := s.cameras[cfg.Path]; ok {
		return nil, fmt.Errorf("add camera %q: path already in use", cfg.Path)
	}
	if err := c.start(); err != nil {
		return nil, fmt.Errorf("add camera %q: %w", cfg.Path, err)
	}
	s.cameras[cfg.Path] = c
	return c, nil
}

func (s *Server) camera(path string) *Camera {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cameras[strings.TrimPrefix(path, "/")]
}

// handler answers RTSP requests from the camera table.
type handler struct{ s *Server }

func (h *handler) lookup(path string) (*base.Response, *gortsplib.ServerStream) {
	c := h.s.camera(path)
	if c == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	st := c.currentStream()
	if st == nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	res, st := h.lookup(ctx.Path)
	return res, st, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	res, st := h.lookup(ctx.Path)
	agent := "unknown"
	if v := ctx.Request.Header["User-Agent"]; len(v) > 0 {
		agent = v[0]
	}
	h.s.agents.Store(ctx.Session, agent)
	return res, st, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.s.agents.Delete(ctx.Session)
}

// OnStreamWriteError implements gortsplib.ServerHandlerOnStreamWriteError:
// a packet dropped for a client that reads too slowly is counted (gortsplib
// would print each to stderr).
func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	agent := "unknown"
	if v, ok := h.s.agents.Load(ctx.Session); ok {
		agent = v.(string)
	}
	n, _ := h.s.drops.LoadOrStore(agent, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (h *handler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}
