package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/council/cctv/internal/testutil"
)

// A box with no camera used to hang on shutdown until systemd killed it.
func TestRecord_NoCameras_EndsWithin10sOfSIGTERM(t *testing.T) {
	b := newBox(t)
	d := b.startDaemon()
	code, out, _ := b.run("status")
	if code != 1 || !strings.Contains(out, "no cameras are configured") {
		t.Errorf("status with no cameras: exit %d\n%s", code, out)
	}
	began := time.Now()
	if err := d.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("cctv record exited with %v", err)
		}
		if took := time.Since(began); took > 10*time.Second {
			t.Errorf("cctv record took %s to stop after SIGTERM, want at most 10 s", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("cctv record with no cameras still running 20 s after SIGTERM")
	}
}

// A refusal reads the same, and is audited the same, whether the request
// went through the daemon's socket or, with the daemon down, straight to the
// store.
func TestRefusal_SameThroughSocketAndDirect(t *testing.T) {
	testutil.NeedRoot(t, "it creates throwaway users and groups")
	testutil.NeedTool(t, "useradd", "chown")
	b := newBox(t)
	u := throwawayUser(t, "cctvtr"+strconv.Itoa(os.Getpid()%100000), "cctvt-view")
	// The user may open the store directly (as the service user can), but
	// holds only the viewer role.
	for _, p := range []string{filepath.Join(b.dir, "data"), filepath.Join(b.dir, "key")} {
		if out, err := exec.Command("chown", "-R", u.Username, p).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v: %s", err, out)
		}
	}
	bin := filepath.Join(b.dir, "cctv")
	copyFile(t, os.Args[0], bin, 0o755)
	holdAdd := []string{"hold", "add", "--camera", "all", "--from", "2026-11-22T14:00:00Z", "--to", "2026-11-22T15:00:00Z",
		"--case", "T-1", "--reason", "test"}

	d := b.startDaemon()
	socketCode, socketOut := asUser(t, bin, u, b.cfgPath, holdAdd...)
	stopDaemon(t, d)
	directCode, directOut := asUser(t, bin, u, b.cfgPath, holdAdd...)

	if socketCode != 1 || !strings.Contains(socketOut, "needs the supervisor role") || !strings.Contains(socketOut, "cctvt-admin") {
		t.Errorf("through the socket: exit %d\n%s", socketCode, socketOut)
	}
	if directCode != socketCode || directOut != socketOut {
		t.Errorf("direct refusal differs from the socket's:\nsocket (exit %d):\n%s\ndirect (exit %d):\n%s", socketCode, socketOut, directCode, directOut)
	}
	var got []string
	for _, e := range b.auditEntries() {
		if e.User != u.Username || e.Action != "request.hold.add" {
			continue
		}
		if strconv.Itoa(e.UID) != u.Uid {
			t.Errorf("refusal audited with uid %d, want %s", e.UID, u.Uid)
		}
		path := e.Params["path"]
		delete(e.Params, "path")
		got = append(got, path+"|"+e.Result+"|"+strings.Join(sortedParams(e.Params), " "))
	}
	if len(got) != 2 {
		t.Fatalf("audit entries for the two refusals: %q, want 2", got)
	}
	socketEntry, directEntry := got[0], got[1]
	if !strings.HasPrefix(socketEntry, "|refused: needs supervisor (group cctvt-admin)|") ||
		strings.TrimPrefix(directEntry, "direct") != socketEntry {
		t.Errorf("audit entries differ beyond path=direct:\nsocket: %s\ndirect: %s", socketEntry, directEntry)
	}
}

func sortedParams(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
