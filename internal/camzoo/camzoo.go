// Package camzoo runs test cameras on GStreamer's RTSP server, an RTSP stack
// independent of the one the recorder uses (gortsplib). Each Server is one
// Python process (zoo.py) serving the cameras of a Spec on a free port of
// 127.0.0.1. It needs Debian's python3-gst-1.0, gir1.2-gst-rtsp-server-1.0
// and the GStreamer plugin packages (see DEB_PKGS in the Makefile).
//
// Tests that use it skip when those are missing, except under CI (the CI
// environment variable set), where a missing tool fails the test: a zoo that
// silently does not run proves nothing.
package camzoo

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

//go:embed zoo.py
var script []byte

// Python is the interpreter with GStreamer's GObject bindings (Debian's, not
// a virtualenv's).
const Python = "/usr/bin/python3"

// Camera describes one zoo camera. Zero values take the defaults noted.
type Camera struct {
	Path    string `json:"path"`              // mount point, without the slash
	Codec   string `json:"codec,omitempty"`   // "h264" (default) or "h265"
	Width   int    `json:"width,omitempty"`   // default 320
	Height  int    `json:"height,omitempty"`  // default 240
	FPS     string `json:"fps,omitempty"`     // GStreamer fraction, default "25/1"; "25/2" is 12.5 fps
	GOP     int    `json:"gop,omitempty"`     // frames between keyframes, default 25
	Kbps    int    `json:"kbps,omitempty"`    // encoder bitrate, default 300
	Pattern string `json:"pattern,omitempty"` // videotestsrc pattern, default "smpte" ("snow" for a hard-to-code picture)
	// Params is where the parameter sets travel: "sdp" (default; only in the
	// SDP's sprop-parameter-sets for H.264), "stap" (before every IDR,
	// aggregated in a STAP-A/AP) or "every-idr" (before every IDR, one
	// packet each; config-interval=-1).
	Params  string `json:"params,omitempty"`
	BFrames int    `json:"bframes,omitempty"` // H.264 B-frames between references
	Slices  int    `json:"slices,omitempty"`  // H.264 slices per picture
	X265    string `json:"x265,omitempty"`    // extra x265 option-string
	// X265Defaults drops tune=zerolatency: x265's own defaults, with
	// B-frames and open GOPs (CRA keyframes followed by leading pictures).
	X265Defaults bool `json:"x265_defaults,omitempty"`
	// LatencyMS holds every encoded frame back this long before it is
	// sent, and its sender reports give the capture time: a camera whose
	// encoder takes that long.
	LatencyMS int `json:"latency_ms,omitempty"`
	// Protocols restricts the lower transports the camera accepts: "udp"
	// or "tcp" (default both). SETUP with another answers 461.
	Protocols string `json:"protocols,omitempty"`
	Audio     string `json:"audio,omitempty"` // "", "pcma" or "aac": a second track beside video
	// RTCP is "normal" (default), "none" (no sender report ever) or "late"
	// (the first sender report after RTCPDelay seconds).
	RTCP          string  `json:"rtcp,omitempty"`
	RTCPDelay     float64 `json:"rtcp_delay,omitempty"`
	ClockOffsetMS int64   `json:"clock_offset_ms,omitempty"` // added to the sender reports' NTP time
	// Loss drops this fraction of RTP packets at random (after the
	// payloader); MarkerLossEvery drops every n-th packet that carries the
	// RTP marker bit (the last packet of a frame).
	Loss            float64 `json:"loss,omitempty"`
	MarkerLossEvery int     `json:"marker_loss_every,omitempty"`
	Seed            int64   `json:"seed,omitempty"`
}

// Spec is what one server serves.
type Spec struct {
	Cameras []Camera `json:"cameras"`
	// User and Password, if set, are required of every client; Auth is
	// "digest" (default) or "basic".
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// Server is a running zoo process.
type Server struct {
	Port int

	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
	once  sync.Once
	log   *strings.Builder
	logMu *sync.Mutex
}

// Available reports why the zoo cannot run here ("" if it can).
func Available() string {
	if _, err := os.Stat(Python); err != nil {
		return "no " + Python
	}
	out, err := exec.Command(Python, "-c", `import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst
Gst.init(None)
for e in ["x264enc", "x265enc", "rtph264pay", "rtph265pay", "alawenc", "voaacenc", "videotestsrc", "audiotestsrc"]:
    if Gst.ElementFactory.find(e) is None:
        print("missing GStreamer element " + e)
`).CombinedOutput()
	if err != nil || len(out) > 0 {
		return fmt.Sprintf("GStreamer RTSP server for Python unusable: %v %s", err, strings.TrimSpace(string(out)))
	}
	return ""
}

// Require skips the test when the zoo cannot run, or fails it under CI.
func Require(t testing.TB) {
	t.Helper()
	if why := Available(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("camera zoo: %s (make deps installs it)", why)
		}
		t.Skipf("camera zoo: %s (make deps installs it)", why)
	}
}

// Start runs a server for spec and stops it when the test ends.
func Start(t testing.TB, spec Spec) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "zoo.py")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		t.Fatal(err)
	}
	if spec.Cameras == nil {
		spec.Cameras = []Camera{} // a server with no cameras (yet): not null
	}
	arg, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, lines: make(chan string, 16), done: make(chan struct{}), log: &strings.Builder{}, logMu: &sync.Mutex{}}
	s.cmd = exec.Command(Python, path, string(arg))
	s.cmd.Env = append(os.Environ(), "GST_DEBUG=0")
	s.stdin, err = s.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		s.logMu.Lock()
		defer s.logMu.Unlock()
		if s.log.Len() < 64<<10 {
			s.log.Write(p)
		}
		return len(p), nil
	})
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start camera zoo: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			default:
			}
		}
		close(s.lines)
	}()
	go func() {
		_ = s.cmd.Wait() // the exit status of a test server says nothing useful; stderr is kept
		close(s.done)
	}()
	t.Cleanup(s.Stop)
	select {
	case l, ok := <-s.lines:
		if !ok || !strings.HasPrefix(l, "PORT ") {
			s.Stop()
			t.Fatalf("camera zoo did not start: %q\n%s", l, s.Stderr())
		}
		fmt.Sscanf(l, "PORT %d", &s.Port)
	case <-time.After(30 * time.Second):
		s.Stop()
		t.Fatalf("camera zoo did not start within 30 s\n%s", s.Stderr())
	}
	return s
}

// URL returns the rtsp URL of the camera at path.
func (s *Server) URL(path string) string {
	return fmt.Sprintf("rtsp://127.0.0.1:%d/%s", s.Port, path)
}

// Reboot drops every client; the next connection gets fresh pipelines with a
// new SSRC, sequence numbers and timestamps, as after a camera reboot.
func (s *Server) Reboot() {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, "reboot all\n"); err != nil {
		s.t.Fatalf("reboot camera zoo: %v", err)
	}
	select {
	case <-s.lines:
	case <-time.After(10 * time.Second):
		s.t.Fatalf("camera zoo did not reboot\n%s", s.Stderr())
	}
}

// Stop ends the server (idempotent).
func (s *Server) Stop() {
	s.once.Do(func() {
		_, _ = io.WriteString(s.stdin, "quit\n") // it may have died already; the kill below settles it
		_ = s.stdin.Close()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill() // already gone is fine
			<-s.done
		}
	})
}

// Stderr returns what the server printed on stderr (for failure messages).
func (s *Server) Stderr() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
