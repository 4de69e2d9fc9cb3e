package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/store"
)

// startRecorder runs `cctv record` as a child process (this test binary in
// main mode) and returns it.
func startRecorder(t *testing.T, cfgPath string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--config", cfgPath, "--log-level", "debug", "record")
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(cfgPath), "record.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// segmentFiles lists the .ts files under dir, oldest name first.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ts") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestRecord_KilledMidSegment_RecoversOnRestart(t *testing.T) {
	dir := t.TempDir()
	cams, err := synthcam.NewServer(synthcam.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cams.Close()
	const gop = 25 // frames: one second at 25 fps
	if _, err := cams.AddCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: gop}); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "cctv.toml")
	syncInterval := time.Second
	toml := fmt.Sprintf(`site = "kill test"
box_id = "box-1"
data_dir = %q
key_file = %q
segment = "5s"
sync_interval = "1s"
stall_timeout = "3s"
allowed_networks = ["127.0.0.0/8"]

[[camera]]
id = "desk"
url = %q
`, filepath.Join(dir, "data"), filepath.Join(dir, "key"), cams.URL("desk"))
	if err := os.WriteFile(cfgPath, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Init(cfg.DataDir, cfg.BoxID); err != nil {
		t.Fatal(err)
	}
	key, err := boxkey.Init(cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}

	child := startRecorder(t, cfgPath)
	segDir := filepath.Join(cfg.DataDir, "segments")
	// Wait until the second segment has been written for a few seconds, so
	// the kill lands mid-segment with synced data behind it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		files := segmentFiles(t, segDir)
		if len(files) >= 2 {
			st, err := os.Stat(files[len(files)-1])
			if err == nil && st.Size() > 0 && time.Since(st.ModTime()) < time.Second && time.Since(firstSeen(files[len(files)-1])) > 3*time.Second {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "record.log"))
			t.Fatalf("recorder did not reach its second segment; log:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	killedAt := time.Now()
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()

	// Restart: recovery runs before READY. Then stop it cleanly.
	child = startRecorder(t, cfgPath)
	deadline = time.Now().Add(60 * time.Second)
	for len(segmentFiles(t, segDir)) < 4 {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "record.log"))
			t.Fatalf("restarted recorder did not record; log:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "record.log"))
			t.Fatalf("recorder exited with %v after SIGTERM; log:\n%s", err, log)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("recorder did not stop within 10 s of SIGTERM")
	}

	st, err := store.Open(cfg.DataDir, store.Options{BoxID: cfg.BoxID, Signer: key, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	vs, err := st.Check(true, key.Verify)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("after recovery: %+v", v)
	}
	segs, err := st.Segments("desk", time.Unix(0, 0), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var recovered *store.Segment
	for i := range segs {
		s := &segs[i]
		testutil.Decode(t, s.Path)
		if s.State == "recovered" {
			if recovered != nil {
				t.Errorf("two recovered segments: %s and %s", recovered.File, s.File)
			}
			recovered = s
		}
	}
	if recovered == nil {
		t.Fatalf("no segment sealed as recovered among %d", len(segs))
	}
	if p := testutil.FFprobe(t, recovered.Path); len(p.Packets) == 0 || !p.Packets[0].Key {
		t.Errorf("recovered segment does not start with a keyframe")
	}
	lost := killedAt.Sub(recovered.End)
	allowed := syncInterval + gop*40*time.Millisecond + 500*time.Millisecond
	if lost > allowed {
		t.Errorf("footage lost to the kill: %s, allowed sync_interval + one GOP (+0.5 s slack) = %s", lost, allowed)
	}
	gaps, err := st.Gaps("desk", recovered.End.Add(-time.Second), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The gaps run without a break from the end of the recovered footage to
	// the first footage of the restarted recorder.
	if len(gaps) == 0 || !gaps[0].From.Equal(recovered.End) {
		t.Fatalf("gaps after the kill: %+v, want them to start at the recovered end %s", gaps, recovered.End)
	}
	for i := 1; i < len(gaps); i++ {
		if !gaps[i].From.Equal(gaps[i-1].To) {
			t.Errorf("gaps after the kill are not contiguous: %+v", gaps)
		}
	}
	var next *store.Segment
	for i := range segs {
		if segs[i].Start.After(recovered.Start) {
			next = &segs[i]
			break
		}
	}
	if next == nil {
		t.Fatal("no footage after the restart")
	}
	if d := next.Start.Sub(gaps[len(gaps)-1].To); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("last gap ends %s, the restarted recording starts %s", gaps[len(gaps)-1].To, next.Start)
	}
}

var firstSeenAt = map[string]time.Time{}

// firstSeen remembers when the test first saw a file.
func firstSeen(path string) time.Time {
	if t, ok := firstSeenAt[path]; ok {
		return t
	}
	firstSeenAt[path] = time.Now()
	return firstSeenAt[path]
}
