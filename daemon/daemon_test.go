package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
)

// testBox is a configured box with no cameras: a data directory, a key and
// a config whose socket lives in a short path.
type testBox struct {
	cfg *config.Config
	key *boxkey.Key
}

func newTestBox(t *testing.T) *testBox {
	t.Helper()
	dir, err := os.MkdirTemp("", "cctv-daemon-") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	text := fmt.Sprintf(`site = "daemon test"
box_id = "box-1"
data_dir = %q
socket = %q
key_file = %q
`, filepath.Join(dir, "data"), filepath.Join(dir, "cctv.sock"), filepath.Join(dir, "box_ed25519"))
	cfg, err := config.Parse("cctv.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	key, err := boxkey.Init(cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Init(cfg.DataDir, cfg.BoxID); err != nil {
		t.Fatal(err)
	}
	return &testBox{cfg: cfg, key: key}
}

// start runs the daemon until the returned stop is called; stop cancels its
// context, as SIGTERM does, and returns Run's error and how long it took.
func (b *testBox) start(t *testing.T, o daemon.Options) (ready, done <-chan struct{}, runErr *error, stop func() (error, time.Duration)) {
	t.Helper()
	o.Config, o.Key = b.cfg, b.key
	o.Logger = slog.New(slog.DiscardHandler)
	readyc := make(chan struct{})
	o.Notify = func(state string) {
		if state == "READY=1" {
			close(readyc)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	donec := make(chan struct{})
	var result error
	go func() { result = daemon.Run(ctx, o); close(donec) }()
	var took time.Duration
	stopped := false
	stop = func() (error, time.Duration) {
		if stopped {
			return result, took
		}
		stopped = true
		began := time.Now()
		cancel()
		select {
		case <-donec:
		case <-time.After(30 * time.Second):
			t.Fatal("daemon.Run did not return within 30 s of cancel")
		}
		took = time.Since(began)
		return result, took
	}
	t.Cleanup(func() { stop() })
	return readyc, donec, &result, stop
}

func waitReady(t *testing.T, ready, done <-chan struct{}, runErr *error) {
	t.Helper()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("daemon ended before READY: %v", *runErr)
	case <-time.After(30 * time.Second):
		t.Fatal("no READY within 30 s")
	}
}

func TestRun_NoCameras_ServesWithAlertAndStopsPromptly(t *testing.T) {
	b := newTestBox(t)
	ready, done, runErr, stop := b.start(t, daemon.Options{})
	waitReady(t, ready, done, runErr)
	var st api.Status
	if err := api.Call(t.Context(), b.cfg.Socket, api.CmdStatus, nil, &st); err != nil {
		t.Fatalf("status: %v", err)
	}
	if !strings.Contains(strings.Join(st.Alerts, "\n"), "no cameras are configured") {
		t.Errorf("status alerts %q: want the no-cameras alert", st.Alerts)
	}
	err, took := stop()
	if err != nil || took > 10*time.Second {
		t.Errorf("Run with no cameras: %v after %s, want nil within 10 s", err, took)
	}
	if _, err := os.Lstat(b.cfg.Socket); err == nil {
		t.Error("socket still there after Run returned")
	}
}

func TestRun_RecorderEndsEarly(t *testing.T) {
	t.Run("without error: keeps serving, stops promptly", func(t *testing.T) {
		b := newTestBox(t)
		ready, done, runErr, stop := b.start(t, daemon.Options{
			RunRecorder: func(context.Context, *recorder.Recorder) error { return nil },
		})
		waitReady(t, ready, done, runErr)
		if err := api.Call(t.Context(), b.cfg.Socket, api.CmdStatus, nil, nil); err != nil {
			t.Fatalf("status after the recorder ended: %v", err)
		}
		if err, took := stop(); err != nil || took > 10*time.Second {
			t.Errorf("Run: %v after %s, want nil within 10 s", err, took)
		}
	})
	t.Run("with an error: the daemon ends with it", func(t *testing.T) {
		b := newTestBox(t)
		boom := errors.New("recorder broke")
		began := time.Now()
		_, done, runErr, _ := b.start(t, daemon.Options{
			RunRecorder: func(context.Context, *recorder.Recorder) error { return boom },
		})
		select {
		case <-done:
			if !errors.Is(*runErr, boom) {
				t.Errorf("Run = %v, want the recorder's error", *runErr)
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("Run took %s to end after the recorder failed", took)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not end after the recorder failed")
		}
	})
	t.Run("hung: Run still returns within StopTimeout", func(t *testing.T) {
		b := newTestBox(t)
		release := make(chan struct{})
		defer close(release)
		ready, done, runErr, stop := b.start(t, daemon.Options{
			StopTimeout: 3 * time.Second,
			RunRecorder: func(context.Context, *recorder.Recorder) error { <-release; return nil },
		})
		waitReady(t, ready, done, runErr)
		err, took := stop()
		if !errors.Is(err, daemon.ErrStopTimeout) || took > 5*time.Second {
			t.Errorf("Run with a hung recorder: %v after %s, want ErrStopTimeout within about 3 s", err, took)
		}
	})
}
