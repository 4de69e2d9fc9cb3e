package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/store"
)

// box is a configured box with synthetic cameras, for daemon tests.
type box struct {
	t       *testing.T
	dir     string
	cfgPath string
	cams    *synthcam.Server
}

// newBox writes a config (socket and data under a 0755 directory so that
// throwaway users can reach the socket), creates the key and data directory.
func newBox(t *testing.T, cameras ...string) *box {
	t.Helper()
	dir, err := os.MkdirTemp("", "cctv-box-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cams, err := synthcam.NewServer(synthcam.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cams.Close)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `site = "daemon test"
box_id = "box-1"
data_dir = %q
socket = %q
key_file = %q
segment = "5s"
allowed_networks = ["127.0.0.0/8"]

[access]
viewer = "cctvt-view"
operator = "cctvt-export"
supervisor = "cctvt-admin"
`, filepath.Join(dir, "data"), filepath.Join(dir, "run", "cctv.sock"), filepath.Join(dir, "key", "box_ed25519"))
	for _, id := range cameras {
		if _, err := cams.AddCamera(synthcam.CameraConfig{Path: id, Codec: media.H264, FPS: 25, GOP: 25}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "\n[[camera]]\nid = %q\nurl = %q\n", id, cams.URL(id))
	}
	b := &box{t: t, dir: dir, cfgPath: filepath.Join(dir, "cctv.toml"), cams: cams}
	if err := os.WriteFile(b.cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b.mustRun("keys", "init")
	b.mustRun("init")
	return b
}

// run runs the CLI in-process and returns its exit code and output.
func (b *box) run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"cctv", "--config", b.cfgPath}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func (b *box) mustRun(args ...string) string {
	b.t.Helper()
	code, out, errs := b.run(args...)
	if code != 0 {
		b.t.Fatalf("cctv %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// startDaemon runs `cctv record` as a child process and waits until it
// answers on its socket.
func (b *box) startDaemon() *exec.Cmd {
	b.t.Helper()
	cmd := startRecorder(b.t, b.cfgPath)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, errs := b.run("status", "--json")
		if code == 0 || (code == 1 && !strings.Contains(errs, "not running")) {
			return cmd
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(b.dir, "record.log"))
			b.t.Fatalf("daemon did not answer on its socket: %s\nlog:\n%s", errs, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func stopDaemon(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop within 15 s of SIGTERM")
	}
}

func (b *box) auditEntries() []store.AuditEntry {
	b.t.Helper()
	var entries []store.AuditEntry
	if err := json.Unmarshal([]byte(b.mustRun("audit", "list", "--json")), &entries); err != nil {
		b.t.Fatal(err)
	}
	return entries
}

func TestDaemon_StatusListAuditThroughSocket(t *testing.T) {
	b := newBox(t, "desk")
	d := b.startDaemon()
	deadline := time.Now().Add(30 * time.Second)
	var st api.Status
	for {
		if err := json.Unmarshal([]byte(b.mustRun("status", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Cameras) == 1 && st.Cameras[0].State == "recording" && st.Cameras[0].Segments > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed a recording camera with footage: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.Cameras[0].LastFrameAgeS > 5 {
		t.Errorf("last frame age %.1f s while recording", st.Cameras[0].LastFrameAgeS)
	}
	out := b.mustRun("list", "--json", "--from", time.Now().Add(-time.Hour).Format(time.RFC3339), "--to", time.Now().Add(time.Hour).Format(time.RFC3339))
	var list api.List
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Cameras) != 1 || len(list.Cameras[0].Segments) == 0 {
		t.Fatalf("list through the daemon: %s", out)
	}

	// Many requests at once while recording: none lost from the audit log.
	before := len(b.auditEntries())
	var wg sync.WaitGroup
	const n = 40
	errs := make(chan string, n)
	for range n {
		wg.Go(func() {
			if code, _, stderr := b.run("status", "--json"); code != 0 && !strings.Contains(stderr, "alert") {
				errs <- stderr
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("parallel status: %s", e)
	}
	entries := b.auditEntries()
	statuses := 0
	for _, e := range entries[before:] {
		if e.Action == "request.status" {
			statuses++
		}
	}
	if statuses != n {
		t.Errorf("%d status requests audited, want %d", statuses, n)
	}
	for _, want := range []string{"config.load", "daemon.start", "request.list", "camera.recording"} {
		found := false
		for _, e := range entries {
			found = found || e.Action == want
		}
		if !found {
			t.Errorf("no %q entry in the audit log", want)
		}
	}
	if me, _ := user.Current(); entries[len(entries)-1].User != me.Username {
		t.Errorf("last entry's user %q, want %q", entries[len(entries)-1].User, me.Username)
	}
	b.mustRun("audit", "verify")
	stopDaemon(t, d)

	// With the daemon down: status says so; list reads the store directly and
	// is audited the same way; the stop was audited.
	code, _, stderr := b.run("status")
	if code != 1 || !strings.Contains(stderr, "not running") {
		t.Errorf("status with the daemon down: exit %d, %s", code, stderr)
	}
	b.mustRun("list", "--from", time.Now().Add(-time.Hour).Format(time.RFC3339), "--to", time.Now().Format(time.RFC3339))
	entries = b.auditEntries()
	var sawStop, sawDirect bool
	for _, e := range entries {
		sawStop = sawStop || e.Action == "daemon.stop"
		sawDirect = sawDirect || (e.Action == "request.list" && e.Params["path"] == "direct")
	}
	if !sawStop || !sawDirect {
		t.Errorf("audit after the daemon stopped: daemon.stop %v, direct list %v", sawStop, sawDirect)
	}
	b.mustRun("audit", "verify")
}

func TestDaemon_LockedIndex_ClearMessageNoHang(t *testing.T) {
	b := newBox(t, "desk")
	d := b.startDaemon()
	defer stopDaemon(t, d)
	// The socket vanishes (say, /run was cleaned) while the daemon holds the
	// index: a direct read must not hang on the file lock.
	if err := os.Remove(filepath.Join(b.dir, "run", "cctv.sock")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, stderr := b.run("list", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("list took %s with the index locked", took)
	}
	if code != 1 || !strings.Contains(stderr, "locked by the running recorder") {
		t.Errorf("list with the index locked: exit %d, %s", code, stderr)
	}
}

// asUser runs this test binary as cctv with another user's credentials.
func asUser(t *testing.T, bin string, u *user.User, cfgPath string, args ...string) (int, string) {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	gids, _ := u.GroupIds()
	var groups []uint32
	for _, g := range gids {
		n, _ := strconv.Atoi(g)
		groups = append(groups, uint32(n))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--config", cfgPath}, args...)...)
	cmd.Env = append(os.Environ(), envRunMain+"=1", "HOME=/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("cctv %v as %s hung", args, u.Username)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String()
}

// throwawayUser creates a user in the given groups (created as needed) and
// removes them at cleanup. Tests that need it run as root.
func throwawayUser(t *testing.T, name string, groups ...string) *user.User {
	t.Helper()
	for _, g := range groups {
		if _, err := user.LookupGroup(g); err != nil {
			if out, err := exec.Command("groupadd", g).CombinedOutput(); err != nil {
				t.Fatalf("groupadd %s: %v: %s", g, err, out)
			}
			t.Cleanup(func() { exec.Command("groupdel", g).Run() })
		}
	}
	args := []string{"--no-create-home", "--shell", "/usr/sbin/nologin"}
	if len(groups) > 0 {
		args = append(args, "-G", strings.Join(groups, ","))
	}
	if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDaemon_RolesFromPeerCredentials(t *testing.T) {
	testutil.NeedRoot(t, "it creates throwaway users and groups")
	testutil.NeedTool(t, "useradd")
	b := newBox(t, "desk")
	suffix := strconv.Itoa(os.Getpid() % 100000)
	viewer := throwawayUser(t, "cctvtv"+suffix, "cctvt-view")
	nobody := throwawayUser(t, "cctvtn"+suffix)
	// The test binary must be reachable by those users.
	bin := filepath.Join(b.dir, "cctv")
	copyFile(t, os.Args[0], bin, 0o755)
	d := b.startDaemon()
	defer stopDaemon(t, d)

	if code, out := asUser(t, bin, viewer, b.cfgPath, "status", "--json"); code == 2 || strings.Contains(out, "needs") {
		t.Errorf("viewer refused status: exit %d: %s", code, out)
	}
	code, out := asUser(t, bin, viewer, b.cfgPath, "audit", "list")
	if code != 1 || !strings.Contains(out, "cctvt-admin") {
		t.Errorf("viewer running audit list: exit %d: %s (want a refusal naming group cctvt-admin)", code, out)
	}
	code, out = asUser(t, bin, nobody, b.cfgPath, "status")
	if code != 1 || !strings.Contains(out, "cctvt-view") {
		t.Errorf("user in no group running status: exit %d: %s (want a refusal naming group cctvt-view)", code, out)
	}
	refused := map[string]bool{}
	for _, e := range b.auditEntries() {
		if strings.HasPrefix(e.Result, "refused") {
			refused[e.User+" "+e.Action] = true
			if strconv.Itoa(e.UID) != map[string]string{viewer.Username: viewer.Uid, nobody.Username: nobody.Uid}[e.User] {
				t.Errorf("refusal audited with uid %d for user %s", e.UID, e.User)
			}
		}
	}
	// The user in no group is stopped by the kernel at the 0660 socket, so
	// the daemon never hears of them; the viewer reached it and was refused.
	if want := viewer.Username + " request.audit.list"; !refused[want] {
		t.Errorf("refusal %q not in the audit log (refusals: %v)", want, refused)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// tamperAuditEntry rewrites one audit entry directly in the index, as
// someone with access to the disk might.
func tamperAuditEntry(t *testing.T, dataDir string, seq uint64) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dataDir, "index.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		if b == nil {
			return fmt.Errorf("no audit bucket")
		}
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], seq)
		v := b.Get(k[:])
		if v == nil {
			return fmt.Errorf("no audit entry %d", seq)
		}
		return b.Put(k[:], bytes.Replace(v, []byte(`"result":"ok"`), []byte(`"result":"OK"`), 1))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAudit_TamperedLog_DetectedAndRecordingGoesOn(t *testing.T) {
	b := newBox(t, "desk")
	d := b.startDaemon()
	stopDaemon(t, d)
	if n := len(b.auditEntries()); n < 4 {
		t.Fatalf("only %d audit entries", n)
	}
	tamperAuditEntry(t, filepath.Join(b.dir, "data"), 1)

	code, out, stderr := b.run("audit", "verify")
	if code != 1 || !strings.Contains(stderr, "first bad entry is seq 1") || !strings.Contains(out, "seq 1: altered") {
		t.Errorf("audit verify of a tampered log: exit %d\n%s%s", code, out, stderr)
	}

	// The recorder still records; status raises the alert; verify through
	// the daemon still names the entry.
	d = b.startDaemon()
	defer stopDaemon(t, d)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st api.Status
		code, out, _ := b.run("status", "--json")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status: exit %d: %s", code, out)
		}
		alerted := strings.Contains(strings.Join(st.Alerts, "\n"), "audit log tampered with: first bad entry is seq 1")
		if alerted && code == 1 && len(st.Cameras) == 1 && st.Cameras[0].State == "recording" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed recording with the audit alert: exit %d %+v", code, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, _, stderr = b.run("audit", "verify")
	if code != 1 || !strings.Contains(stderr, "first bad entry is seq 1") {
		t.Errorf("audit verify through the daemon: exit %d: %s", code, stderr)
	}
}

// runDaemon runs the daemon in this process with o (its Config, Key and
// Logger filled in from the box) until the test ends, and waits until it
// answers on its socket. The daemon must end without error.
func (b *box) runDaemon(o daemon.Options) {
	b.t.Helper()
	cfg, err := config.Load(b.cfgPath)
	if err != nil {
		b.t.Fatal(err)
	}
	key, err := boxkey.Load(cfg.KeyFile)
	if err != nil {
		b.t.Fatal(err)
	}
	o.Config, o.Key, o.Logger = cfg, key, slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, o) }()
	b.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.t.Errorf("daemon: %v", err)
		}
	})
	waitUntil(b.t, "the daemon to answer", 30*time.Second, func() bool {
		code, _, stderr := b.run("status", "--json")
		return code == 0 || !strings.Contains(stderr, "not running")
	})
}
