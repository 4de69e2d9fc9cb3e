package camzoo

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// RelayServer is Debian's rtsp-server-perl: an RTSP relay (an RTSP stack of
// its own) into which encoders publish with ANNOUNCE/RECORD and from which
// clients play, over UDP only (it answers a TCP SETUP with 400).
const RelayServer = "/usr/bin/rtsp-server-perl"

// Published is an ffmpeg encoder publishing one stream into its own relay:
// the stream as ffmpeg's encoder and RTP packetiser make it (ffmpeg's x264
// defaults, its RTCP sender reports), as when a camera's stream goes
// through a media server.
type Published struct {
	URL string // where clients play it (UDP)

	relay, ffmpeg *exec.Cmd
	done          [2]chan struct{}
	once          sync.Once
	log           *strings.Builder
	logMu         *sync.Mutex
}

// RequirePublish skips the test when ffmpeg or the relay is missing, or
// fails it under CI.
func RequirePublish(t testing.TB) {
	t.Helper()
	var missing []string
	for _, p := range []string{RelayServer, "ffmpeg"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("camera zoo: missing %v (make deps installs them)", missing)
		}
		t.Skipf("camera zoo: missing %v (make deps installs them)", missing)
	}
}

// Publish starts a relay on free ports of 127.0.0.1 and an ffmpeg that
// encodes a 320x240 25 fps test picture in real time with the given
// encoder arguments (e.g. "-c:v", "libx264", "-bf", "2") and publishes it
// as path. Both stop when the test ends.
func Publish(t testing.TB, path string, encoder ...string) *Published {
	t.Helper()
	RequirePublish(t)
	clientPort, sourcePort, rtpBase := freeTCPPort(t), freeTCPPort(t), freeUDPBase(t)
	p := &Published{URL: fmt.Sprintf("rtsp://127.0.0.1:%d/%s", clientPort, path), log: &strings.Builder{}, logMu: &sync.Mutex{}}
	p.done = [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	logTo := writerFunc(func(b []byte) (int, error) {
		p.logMu.Lock()
		defer p.logMu.Unlock()
		if p.log.Len() < 64<<10 {
			p.log.Write(b)
		}
		return len(b), nil
	})
	p.relay = exec.Command(RelayServer, "-c", fmt.Sprint(clientPort), "-s", fmt.Sprint(sourcePort),
		"--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1",
		"--rtp_start_port", fmt.Sprint(rtpBase), "-l", "1")
	p.relay.Stdout, p.relay.Stderr = logTo, logTo
	if err := p.relay.Start(); err != nil {
		t.Fatalf("start %s: %v", RelayServer, err)
	}
	go func() { _ = p.relay.Wait(); close(p.done[0]) }() // killed at the end: its status says nothing
	t.Cleanup(p.Stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sourcePort))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay did not listen within 15 s: %v\n%s", err, p.Log())
		}
		time.Sleep(50 * time.Millisecond) // polling a port that is about to open
	}
	args := []string{"-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc=s=320x240:r=25",
		"-pix_fmt", "yuv420p", "-b:v", "300k", "-g", "25"}
	args = append(args, encoder...)
	args = append(args, "-f", "rtsp", fmt.Sprintf("rtsp://127.0.0.1:%d/%s", sourcePort, path))
	p.ffmpeg = exec.Command("ffmpeg", args...)
	p.ffmpeg.Stdout, p.ffmpeg.Stderr = logTo, logTo
	if err := p.ffmpeg.Start(); err != nil {
		t.Fatalf("start ffmpeg: %v", err)
	}
	go func() { _ = p.ffmpeg.Wait(); close(p.done[1]) }()
	return p
}

// Stop ends ffmpeg and the relay (idempotent).
func (p *Published) Stop() {
	p.once.Do(func() {
		for i, c := range []*exec.Cmd{p.ffmpeg, p.relay} {
			if c == nil || c.Process == nil {
				continue
			}
			_ = c.Process.Kill() // it may have ended already
			<-p.done[1-i]
		}
	})
}

// Log returns what ffmpeg and the relay printed (for failure messages).
func (p *Published) Log() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeUDPBase returns an even UDP port that was free, for the relay's RTP
// and RTCP port pairs.
func freeUDPBase(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port &^ 1
}
