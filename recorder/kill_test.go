//go:build cgo

package recorder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/camzoo"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
)

// envKillChild makes the test binary a recorder process (see TestMain).
const envKillChild = "CCTV_TEST_RECORDER_CHILD"

type killChild struct {
	Data    string
	Key     string
	Cameras []recorder.CameraConfig
	Sync    time.Duration
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(envKillChild); spec != "" {
		os.Exit(runKillChild(spec))
	}
	os.Exit(m.Run())
}

// runKillChild opens and recovers the store, then records until killed.
func runKillChild(spec string) int {
	var c killChild
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		return 2
	}
	key, err := boxkey.Load(c.Key)
	if err != nil {
		return 2
	}
	st, err := store.Open(c.Data, store.Options{BoxID: "test-box", Signer: key})
	if err != nil {
		return 2
	}
	var ids []string
	for _, cam := range c.Cameras {
		ids = append(ids, cam.ID)
	}
	if _, err := st.Recover(ids); err != nil {
		return 2
	}
	rec, err := recorder.New(recorder.Options{Store: st, Cameras: c.Cameras, Segment: 3 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SyncInterval: c.Sync, StallTimeout: 3 * time.Second, BackoffMin: 100 * time.Millisecond, BackoffMax: 500 * time.Millisecond})
	if err != nil {
		return 2
	}
	_ = rec.Run(context.Background()) // until SIGKILL
	return 0
}

// TestRecorder_KillNine_RecoveredSegmentsDecodeCleanly kills the recorder
// (kill -9) 20 times at random moments while it records two GStreamer
// cameras (H.264 with B-frames, H.265) and recovers each time: every
// recovered segment must decode with zero ffmpeg messages and hold the frame
// count its seal states, and footage lost per crash stays within
// sync_interval + one GOP (issue 10).
func TestRecorder_KillNine_RecoveredSegmentsDecodeCleanly(t *testing.T) {
	camzoo.Require(t)
	if testing.Short() {
		t.Skip("kill -9 trials: -short")
	}
	const (
		trials = 20
		gop    = time.Second
		sync   = 500 * time.Millisecond
	)
	zoo := camzoo.Start(t, camzoo.Spec{Cameras: []camzoo.Camera{
		{Path: "bframes", BFrames: 2, GOP: 25},
		{Path: "hevc", Codec: "h265", GOP: 25},
	}})
	dir := t.TempDir()
	data, keyPath := filepath.Join(dir, "data"), filepath.Join(dir, "key")
	if err := store.Init(data, "test-box"); err != nil {
		t.Fatal(err)
	}
	key, err := boxkey.Init(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	cams := []recorder.CameraConfig{
		{ID: "bframes", URL: zoo.URL("bframes"), Transport: "tcp"},
		{ID: "hevc", URL: zoo.URL("hevc"), Transport: "udp"},
	}
	spec, err := json.Marshal(killChild{Data: data, Key: keyPath, Cameras: cams, Sync: sync})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(10, 10))
	seen := map[string]bool{}
	recovered, worst := 0, time.Duration(0)
	for trial := range trials {
		child := exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), envKillChild+"="+string(spec))
		var childLog bytes.Buffer
		child.Stdout, child.Stderr = &childLog, &childLog
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once footage is being written, at a random point of a segment.
		started := time.Now()
		waitFor(t, "footage from the restarted recorder", 30*time.Second, func() bool {
			return writtenSince(filepath.Join(data, "segments", "bframes"), started) && writtenSince(filepath.Join(data, "segments", "hevc"), started)
		})
		// One more sync first: a file holding only its keyframe recovers to
		// nothing (its last frame is not provably whole), which would measure
		// the pause between trials as footage lost.
		time.Sleep(sync + time.Duration(rng.Int64N(int64(3*time.Second)))) // the crash point is the variable under test
		killedAt := time.Now()
		if err := child.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait() // killed: the status is the signal

		st, err := store.Open(data, store.Options{BoxID: "test-box", Signer: key})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recover([]string{"bframes", "hevc"}); err != nil {
			t.Fatal(err)
		}
		for _, cam := range cams {
			segs, err := st.Segments(cam.ID, time.Unix(0, 0), time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range segs {
				if seen[s.File] {
					continue
				}
				seen[s.File] = true
				if s.State != store.SealRecovered {
					continue
				}
				recovered++
				if msgs := ffmpegMessages(s.Path); msgs != "" {
					t.Errorf("trial %d: recovered %s: ffmpeg -v error says:\n%s", trial, s.File, msgs)
				}
				if n := len(testutil.FFprobe(t, s.Path).Packets); int64(n) != s.Frames {
					t.Errorf("trial %d: recovered %s: sealed %d frames, ffprobe counts %d", trial, s.File, s.Frames, n)
				}
			}
			if len(segs) == 0 {
				t.Fatalf("trial %d: camera %s recorded nothing", trial, cam.ID)
			}
			last := segs[len(segs)-1]
			lostAt := killedAt.Sub(last.End)
			worst = max(worst, lostAt)
			// What was synced survives; the last frame (possibly torn) and
			// what waited for the next sync are lost. Frames reach the box
			// a little after capture, hence the 300 ms of slack.
			if lostAt > sync+gop+300*time.Millisecond {
				t.Errorf("trial %d: %s: footage ends %s before the kill (last %s, flags %v); recorder log:\n%s", trial, cam.ID, lostAt, last.File, last.Flags, childLog.String())
			}
		}
		vs, err := st.Check(true, key.Verify)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if !slices.Contains([]string{"audit"}, v.Kind) {
				t.Errorf("trial %d: after recovery: %s", trial, v)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kill -9 trials: %d recovered segments, all decoding cleanly; most footage lost per crash %s", trials, recovered, worst.Round(time.Millisecond))
	if recovered < trials {
		t.Errorf("only %d recovered segments in %d trials", recovered, trials)
	}
}

// writtenSince reports whether a segment file under dir was written after t.
func writtenSince(dir string, t time.Time) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".ts" {
			return nil // a directory still being created reads as nothing yet
		}
		if fi, err := d.Info(); err == nil && fi.Size() > 0 && fi.ModTime().After(t) {
			found = true
		}
		return nil
	})
	return found
}
