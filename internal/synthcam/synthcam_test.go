package synthcam_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
)

// TestMain fails the run if goroutines outlive the tests: every Server,
// Camera and client must have been closed and waited for.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		tick := time.NewTicker(10 * time.Millisecond)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			<-tick.C
		}
		tick.Stop()
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "goroutine leak: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

func newServer(t *testing.T, opts synthcam.ServerOptions) *synthcam.Server {
	t.Helper()
	s, err := synthcam.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func addCamera(t *testing.T, s *synthcam.Server, cfg synthcam.CameraConfig) *synthcam.Camera {
	t.Helper()
	c, err := s.AddCamera(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// session is a playing gortsplib client and what it has seen.
type session struct {
	client *gortsplib.Client
	desc   *description.Session

	mu        sync.Mutex
	aus       [][][]byte    // decoded access units
	firstAU   time.Time     // arrival of the first access unit
	lastAU    time.Time     // arrival of the last access unit
	ntpOK     bool          // Client.PacketNTP returned ok for some packet
	ntpSkew   time.Duration // largest |arrival - PacketNTP|
	srNTP     []time.Time   // wall-clock times from sender reports, RFC 3550 decoding
	srArrival []time.Time
	decodeErr error
	gotAU     chan struct{} // closed at the first decoded access unit
	gotAUOnce sync.Once
}

// play connects to url with the given transport and plays its first
// media. The client is closed at cleanup.
func play(t *testing.T, url string, transport gortsplib.Transport) (*session, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &transport}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, err
	}
	s := &session{client: c, desc: desc, gotAU: make(chan struct{})}
	medi := desc.Medias[0]
	forma := medi.Formats[0]
	var decode func(*rtp.Packet) ([][]byte, error)
	switch f := forma.(type) {
	case *format.H264:
		d, err := f.CreateDecoder()
		if err != nil {
			t.Fatal(err)
		}
		decode = d.Decode
	case *format.H265:
		d, err := f.CreateDecoder()
		if err != nil {
			t.Fatal(err)
		}
		decode = d.Decode
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	if decode != nil {
		c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
			ntp, ntpOK := c.PacketNTP(medi, pkt)
			skew := time.Since(ntp).Abs()
			au, err := decode(pkt)
			s.mu.Lock()
			defer s.mu.Unlock()
			s.ntpOK = s.ntpOK || ntpOK
			if ntpOK {
				s.ntpSkew = max(s.ntpSkew, skew)
			}
			switch {
			case err == nil:
				now := time.Now()
				if s.firstAU.IsZero() {
					s.firstAU = now
				}
				s.lastAU = now
				s.aus = append(s.aus, au)
				s.gotAUOnce.Do(func() { close(s.gotAU) })
			case errors.Is(err, rtph264.ErrMorePacketsNeeded), errors.Is(err, rtph265.ErrMorePacketsNeeded),
				errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious),
				errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious):
			default:
				s.decodeErr = err
			}
		})
	}
	c.OnPacketRTCP(medi, func(pkt rtcp.Packet) {
		if sr, ok := pkt.(*rtcp.SenderReport); ok {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.srNTP = append(s.srNTP, ntpToTime(sr.NTPTime))
			s.srArrival = append(s.srArrival, time.Now())
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	return s, nil
}

// ntpToTime decodes an RTCP NTP timestamp as RFC 3550 defines it (32-bit
// seconds since 1900, 32-bit binary fraction).
func ntpToTime(v uint64) time.Time {
	sec := int64(v>>32) - 2208988800
	frac := int64((v & 0xffffffff) * uint64(time.Second) >> 32)
	return time.Unix(sec, frac)
}

// wait lets the session receive for d (a measurement window, not a wait for
// an event), then reports a fatal client error if any.
func (s *session) wait(t *testing.T, d time.Duration) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.client.Wait() }()
	select {
	case err := <-errc:
		t.Fatalf("client ended early: %v", err)
	case <-time.After(d):
	}
}

func seiCounter(t *testing.T, codec media.Codec, au [][]byte) (uint64, bool) {
	t.Helper()
	hdr := 1
	if codec == media.H265 {
		hdr = 2
	}
	for _, n := range au {
		if len(n) > hdr && bytes.Contains(n, synthcam.SEIUUID[:]) {
			for f := range uint64(1 << 16) { // find which frame's payload this is
				if bytes.Equal(n[hdr:], synthcam.SEIPayload(f)) {
					return f, true
				}
			}
			t.Fatalf("SEI with our UUID but unknown payload %x", n)
		}
	}
	return 0, false
}

func TestServer_Stream(t *testing.T) {
	srv := newServer(t, synthcam.ServerOptions{UDP: true})
	noRTCP := newServer(t, synthcam.ServerOptions{DisableRTCP: true})
	tests := []struct {
		name      string
		srv       *synthcam.Server
		codec     media.Codec
		transport gortsplib.Transport
		sei       bool
		rtcp      bool
	}{
		{"h264-tcp-sei", srv, media.H264, gortsplib.TransportTCP, true, true},
		{"h265-udp-sei", srv, media.H265, gortsplib.TransportUDP, true, true},
		{"h264-tcp-no-rtcp", noRTCP, media.H264, gortsplib.TransportTCP, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cam := addCamera(t, tc.srv, synthcam.CameraConfig{Path: tc.name, Codec: tc.codec, SEI: tc.sei, GOP: 25})
			s, err := play(t, tc.srv.URL(tc.name), tc.transport)
			if err != nil {
				t.Fatal(err)
			}
			s.wait(t, 2*time.Second)

			s.mu.Lock()
			defer s.mu.Unlock()
			if s.decodeErr != nil {
				t.Errorf("depacketise: %v", s.decodeErr)
			}
			// 2 s at 25 fps; the first access unit may be partial.
			if n := len(s.aus); n < 40 || n > 56 {
				t.Errorf("received %d access units in 2 s, want about 50", n)
			}
			if n := len(s.aus); n > 10 {
				rate := float64(n-1) / s.lastAU.Sub(s.firstAU).Seconds()
				if rate < 20 || rate > 30 {
					t.Errorf("frame rate %.1f fps, want about 25", rate)
				}
			}
			if cam.FramesSent() < int64(len(s.aus)) {
				t.Errorf("FramesSent %d < %d received", cam.FramesSent(), len(s.aus))
			}

			// Parameter sets: in the SDP and in-band before keyframes.
			var keys int
			for _, au := range s.aus {
				if tc.codec == media.H264 && h264IsIDR(au) {
					keys++
					if !hasNALTypes(au, func(n []byte) int { return int(n[0] & 0x1f) }, 7, 8) {
						t.Errorf("h264 IDR access unit without in-band SPS/PPS")
					}
				}
				if tc.codec == media.H265 && h265IsIRAP(au) {
					keys++
					if !hasNALTypes(au, func(n []byte) int { return int(n[0]>>1) & 0x3f }, 32, 33, 34) {
						t.Errorf("h265 IRAP access unit without in-band VPS/SPS/PPS")
					}
				}
			}
			if keys == 0 {
				t.Errorf("no keyframe received in 2 s with a GOP of 25")
			}
			switch f := s.desc.Medias[0].Formats[0].(type) {
			case *format.H264:
				if f.SPS == nil || f.PPS == nil {
					t.Errorf("SDP lacks sprop-parameter-sets")
				}
			case *format.H265:
				if f.VPS == nil || f.SPS == nil || f.PPS == nil {
					t.Errorf("SDP lacks sprop-vps/sps/pps")
				}
			}

			// SEI: one per frame, consecutive counters.
			var prev uint64
			var seis int
			for i, au := range s.aus {
				f, ok := seiCounter(t, tc.codec, au)
				if ok != tc.sei {
					t.Fatalf("access unit %d: SEI present %v, want %v", i, ok, tc.sei)
				}
				if ok {
					if seis > 0 && f != prev+1 {
						t.Errorf("access unit %d: SEI counter %d after %d", i, f, prev)
					}
					prev = f
					seis++
				}
			}

			// RTCP sender reports.
			if tc.rtcp {
				if len(s.srNTP) == 0 {
					t.Fatal("no RTCP sender report in 2 s")
				}
				if !s.ntpOK {
					t.Errorf("Client.PacketNTP never became available")
				}
				// gortsplib v4.16.2 reads the NTP fraction as nanoseconds,
				// not 1/2^32 s, so PacketNTP is late by up to 3.3 s against
				// RFC 3550 senders like this one (and real cameras).
				t.Logf("Client.PacketNTP max skew from arrival: %v", s.ntpSkew)
				for i, ntp := range s.srNTP {
					// The camera's clock is the box clock here: the report's
					// time is the frame time just sent.
					if d := s.srArrival[i].Sub(ntp); d < -50*time.Millisecond || d > 200*time.Millisecond {
						t.Errorf("sender report %d: NTP %v is %v away from arrival", i, ntp, d)
					}
				}
			} else {
				if len(s.srNTP) != 0 {
					t.Errorf("%d sender reports with DisableRTCP", len(s.srNTP))
				}
				if s.ntpOK {
					t.Errorf("Client.PacketNTP available with DisableRTCP")
				}
			}
		})
	}
}

func hasNALTypes(au [][]byte, typ func([]byte) int, want ...int) bool {
	seen := map[int]bool{}
	for _, n := range au {
		seen[typ(n)] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}

func h264IsIDR(au [][]byte) bool {
	for _, n := range au {
		if n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

func h265IsIRAP(au [][]byte) bool {
	for _, n := range au {
		if typ := int(n[0]>>1) & 0x3f; typ >= 16 && typ <= 23 {
			return true
		}
	}
	return false
}

func TestCamera_StopStart(t *testing.T) {
	srv := newServer(t, synthcam.ServerOptions{})
	cam := addCamera(t, srv, synthcam.CameraConfig{Path: "lobby"})
	s, err := play(t, srv.URL("lobby"), gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.client.Wait() }()

	cam.Stop()
	cam.Stop() // idempotent
	select {
	case err := <-errc:
		t.Logf("session ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("session still running 10 s after Stop")
	}
	_, err = play(t, srv.URL("lobby"), gortsplib.TransportTCP)
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) || bad.Code != base.StatusServiceUnavailable {
		t.Fatalf("DESCRIBE of a stopped camera: %v, want status 503", err)
	}
	_, err = play(t, srv.URL("nowhere"), gortsplib.TransportTCP)
	if !errors.As(err, &bad) || bad.Code != base.StatusNotFound {
		t.Fatalf("DESCRIBE of an unknown path: %v, want status 404", err)
	}

	sent := cam.FramesSent()
	cam.Start()
	s2, err := play(t, srv.URL("lobby"), gortsplib.TransportTCP)
	if err != nil {
		t.Fatalf("DESCRIBE after Start: %v", err)
	}
	select {
	case <-s2.gotAU:
	case <-time.After(5 * time.Second):
		t.Fatal("no access unit 5 s after Start")
	}
	if cam.FramesSent() <= sent {
		t.Errorf("FramesSent did not grow after Start")
	}
}

func TestServer_AddCamera_MJPEG(t *testing.T) {
	srv := newServer(t, synthcam.ServerOptions{})
	addCamera(t, srv, synthcam.CameraConfig{Path: "old-mjpeg", MJPEG: true})
	if _, err := srv.AddCamera(synthcam.CameraConfig{Path: "old-mjpeg"}); err == nil {
		t.Error("AddCamera accepted a duplicate path")
	}
	s, err := play(t, srv.URL("old-mjpeg"), gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.desc.Medias[0].Formats[0].(*format.MJPEG); !ok || len(s.desc.Medias[0].Formats) != 1 {
		t.Errorf("formats %v, want MJPEG only", s.desc.Medias[0].Formats)
	}
}

// TestServer_FFprobe checks the streams with an independent RTSP client.
func TestServer_FFprobe(t *testing.T) {
	srv := newServer(t, synthcam.ServerOptions{})
	for _, codec := range []media.Codec{media.H264, media.H265} {
		addCamera(t, srv, synthcam.CameraConfig{Path: codec.String(), Codec: codec, GOP: 10, SEI: true})
	}
	for _, tc := range []struct{ path, want string }{{"h264", "hevc"}, {"h265", "hevc"}} {
		if tc.path == "h264" {
			tc.want = "h264"
		}
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			var out, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
				"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", srv.URL(tc.path))
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, stderr.String())
			}
			if got, want := strings.TrimSpace(out.String()), tc.want+",320,240"; got != want {
				t.Errorf("ffprobe = %q, want %q (stderr %q)", got, want, stderr.String())
			}
		})
	}
}

func TestSEIPayload(t *testing.T) {
	for _, f := range []uint64{0, 1, 3, 256, 1 << 40, ^uint64(0)} {
		p := synthcam.SEIPayload(f)
		for i := 0; i+2 < len(p); i++ {
			if p[i] == 0 && p[i+1] == 0 && p[i+2] <= 3 && p[i+2] != 3 {
				t.Errorf("frame %d: start-code emulation at %d in %x", f, i, p)
			}
		}
		if p[0] != 5 || p[1] != 24 || !bytes.Equal(p[2:18], synthcam.SEIUUID[:]) || p[len(p)-1] != 0x80 {
			t.Errorf("frame %d: malformed SEI %x", f, p)
		}
		if n := synthcam.SEINALU(media.H265, f); !bytes.Equal(n[2:], p) || n[0]>>1 != 39 {
			t.Errorf("frame %d: h265 NAL %x", f, n)
		}
		if n := synthcam.SEINALU(media.H264, f); !bytes.Equal(n[1:], p) || n[0] != 6 {
			t.Errorf("frame %d: h264 NAL %x", f, n)
		}
	}
}
