package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envHog makes the test binary a hostile local user's program (see hog).
const envHog = "CCTV_TEST_HOG"

// hog is what a hostile (or careless) local user runs against the socket.
// Modes:
//
//	idle SOCKET N          open N connections, send nothing, hold them
//	export SOCKET N LINE   open N connections, send LINE on each, never read
//	flood SOCKET BIG N     BIG requests of 1 MB each, then N small refused ones
//
// It prints "ready" once its connections are open (idle, export) and holds
// them until its standard input closes; flood prints a summary and exits.
func hog(mode string, args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "hog: usage")
		return 2
	}
	sock := args[0]
	n, _ := strconv.Atoi(args[1])
	switch mode {
	case "idle", "export":
		var conns []net.Conn
		for range n {
			c, err := net.Dial("unix", sock)
			if err != nil {
				continue // refused at once: fine, that is the point
			}
			if mode == "export" {
				fmt.Fprintf(c, "%s\n", args[2])
			}
			conns = append(conns, c)
		}
		fmt.Printf("ready %d\n", len(conns))
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	case "flood":
		small, _ := strconv.Atoi(args[2])
		junk := strings.Repeat("x", 1_000_000)
		big := fmt.Sprintf(`{"command":"status","args":{"junk":%q}}`, junk)
		answered, failed := 0, 0
		var firstErr error
		send := func(line string) {
			c, err := net.Dial("unix", sock)
			for tries := 0; err != nil && tries < 50; tries++ { // backlog full: the daemon is busy
				time.Sleep(20 * time.Millisecond)
				c, err = net.Dial("unix", sock)
			}
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.WriteString(c, line+"\n"); err != nil {
				return
			}
			if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				answered++
			}
		}
		for range n {
			send(big)
		}
		for range small {
			send(`{"command":"audit.list"}`)
		}
		fmt.Printf("answered %d (not connected: %d, first error: %v)\n", answered, failed, firstErr)
		return 0
	}
	fmt.Fprintln(os.Stderr, "hog: unknown mode", mode)
	return 2
}

// hogProcess runs the test binary as hog under u's credentials.
type hogProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startHog(t *testing.T, bin string, u *user.User, mode string, args ...string) *hogProcess {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	gids, _ := u.GroupIds()
	var groups []uint32
	for _, g := range gids {
		n, _ := strconv.Atoi(g)
		groups = append(groups, uint32(n))
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), envHog+"="+mode, "HOME=/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hogProcess{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(h.stop)
	return h
}

// line reads the hog's next line of output.
func (h *hogProcess) line(t *testing.T) string {
	t.Helper()
	l, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("hog: %v", err)
	}
	return strings.TrimSpace(l)
}

func (h *hogProcess) stop() {
	_ = h.stdin.Close()
	done := make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
	}
}

// exportLine is a raw export request, as the CLI sends it.
func exportLine(t *testing.T, camera string, from, to time.Time) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"command": "export", "args": map[string]any{
		"cameras": []string{camera}, "from": from, "to": to, "case": "HOG-1", "reason": "stalled on purpose",
		"recipient": "nobody"}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
