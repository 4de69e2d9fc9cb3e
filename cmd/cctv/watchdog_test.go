package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/recorder"
)

// notifyListener is a fake systemd notification socket.
func notifyListener(t *testing.T) (path string, msgs <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "cctv-notify-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path = filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			for _, m := range strings.Split(string(buf[:n]), "\n") {
				select {
				case ch <- m:
				default:
				}
			}
		}
	}()
	return path, ch
}

// countWatchdog counts WATCHDOG=1 messages arriving during d.
func countWatchdog(msgs <-chan string, d time.Duration) int {
	n := 0
	deadline := time.After(d)
	for {
		select {
		case m := <-msgs:
			if m == "WATCHDOG=1" {
				n++
			}
		case <-deadline:
			return n
		}
	}
}

func TestRecord_Watchdog_StopsWhenACameraLoopIsWedged(t *testing.T) {
	// A camera that accepts the connection and then never answers: its loop
	// sits in the RTSP handshake far longer than a healthy loop is quiet.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	for _, tc := range []struct {
		name   string
		wedged bool
	}{{"healthy", false}, {"wedged", true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBox(t, "desk")
			cfg, err := config.Load(b.cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wedged {
				cfg.Cameras[0].URL = "rtsp://" + silent.Addr().String() + "/stream"
			}
			key, err := boxkey.Load(cfg.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			path, msgs := notifyListener(t)
			t.Setenv("NOTIFY_SOCKET", path)
			t.Setenv("WATCHDOG_USEC", "400000") // 0.4 s: notified every 0.2 s
			t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- daemon.Run(ctx, daemon.Options{Config: cfg, Key: key, Logger: slog.New(slog.DiscardHandler),
					Recorder: func(o *recorder.Options) {
						o.StallTimeout = time.Minute // the handshake may hang this long
						o.WedgedAfter = time.Second
					},
				})
			}()
			defer func() {
				cancel()
				select {
				case <-done:
				case <-time.After(90 * time.Second):
					t.Error("recorder did not stop")
				}
			}()
			deadline := time.After(30 * time.Second)
			for ready := false; !ready; {
				select {
				case m := <-msgs:
					ready = m == "READY=1"
				case <-deadline:
					t.Fatal("no READY=1")
				}
			}
			time.Sleep(2 * time.Second) // past WedgedAfter
			for len(msgs) > 0 {
				<-msgs // notifications from before the loop wedged
			}
			n := countWatchdog(msgs, 2*time.Second)
			if tc.wedged && n != 0 {
				t.Errorf("wedged camera loop: %d WATCHDOG=1 notifications, want none (systemd must restart the recorder)", n)
			}
			if !tc.wedged && n < 3 {
				t.Errorf("healthy recorder: %d WATCHDOG=1 notifications in 2 s, want them every 0.2 s", n)
			}
		})
	}
}
