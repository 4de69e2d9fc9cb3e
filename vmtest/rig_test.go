//go:build vmtest

package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/council/cctv/api"
)

// rig is one run of the VM rig: the image, the disks, the host cameras and
// the current boot.
type rig struct {
	t      *testing.T
	repo   string
	img    Image
	disks  Disks
	run    string // working directory of this run (disks, logs)
	share  string // /rig in the guest
	accel  string
	vm     *VM
	cams   map[string]string // camera id -> URL as the guest sees it
	camCmd *exec.Cmd

	recSince   time.Time   // the cameras record since (install)
	pendingCut *pendingCut // a power cut made by scenarioUnmounted

	mu      sync.Mutex
	results []string
}

// Settings of the box's config (scenario figures depend on them).
const (
	syncInterval = time.Second
	gop          = time.Second // rigcam: 10 fps, keyframe every 10 frames
	segmentLen   = "10s"       // short: footage is sealed soon after it is recorded
)

func newRig(t *testing.T) *rig {
	t.Helper()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cache := os.Getenv("CCTV_VM_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "cctv-vm")
	}
	run, err := os.MkdirTemp("", "cctv-vm-")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, repo: repo, run: run, share: filepath.Join(run, "share"), cams: map[string]string{}}
	t.Logf("rig: working directory %s (kept on failure)", run)
	t.Cleanup(func() {
		if r.vm != nil && !r.vm.Exited() {
			r.vm.Kill()
		}
		if r.camCmd != nil {
			r.camCmd.Process.Kill()
			r.camCmd.Wait()
		}
		r.printSummary()
		if !t.Failed() && os.Getenv("CCTV_VM_KEEP") == "" {
			os.RemoveAll(run)
		}
	})

	// The image (cached), then this run's disks.
	out, err := exec.Command(filepath.Join(repo, "vmtest", "image.sh"), cache).Output()
	if err != nil {
		t.Fatalf("vmtest/image.sh: %v\n%s", err, exitStderr(err))
	}
	r.img = Image{Dir: strings.TrimSpace(lastLine(string(out)))}
	r.disks = Disks{Root: filepath.Join(run, "root.qcow2"), Data: filepath.Join(run, "data.img"), USB: filepath.Join(run, "usb.img")}
	mustRun(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", filepath.Join(r.img.Dir, "root.img"), "-F", "raw", r.disks.Root)
	mustRun(t, "truncate", "-s", "1G", r.disks.Data) // a new, empty disk: the site formats it
	mustRun(t, "truncate", "-s", "128M", r.disks.USB)
	mustRun(t, "mkfs.vfat", "-n", "EVIDENCE", r.disks.USB) // a stick as bought

	// The shared folder: the freshly built binaries, the installer and the
	// unit files as a checkout has them, and the guest helpers.
	for _, d := range []string{"bin", "repo/scripts", "repo/systemd", "out", "cmd"} {
		if err := os.MkdirAll(filepath.Join(r.share, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := os.Getenv("CCTV_BINARY")
	if bin == "" {
		bin = filepath.Join(run, "cctv")
		mustRunIn(t, repo, "scripts/go-build.sh", bin)
	}
	copyFile(t, bin, filepath.Join(r.share, "bin", "cctv"), 0o755)
	mustRunIn(t, repo, "go", "build", "-o", filepath.Join(r.share, "bin", "rigcam"), "./vmtest/rigcam")
	for _, f := range []string{"scripts/install.sh", "scripts/cctv.example.toml", "README.md",
		"systemd/cctv.service", "systemd/cctv.sysusers", "systemd/cctv.tmpfiles"} {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(f, ".sh") {
			mode = 0o755
		}
		copyFile(t, filepath.Join(repo, f), filepath.Join(r.share, "repo", f), mode)
	}
	copyFile(t, filepath.Join(repo, "vmtest", "rig", "lib.sh"), filepath.Join(r.share, "lib.sh"), 0o644)

	// KVM when it can run a guest here, else TCG.
	r.accel = os.Getenv("CCTV_VM_ACCEL")
	if r.accel == "" {
		r.accel = "tcg"
		if probeKVM(context.Background(), r.img, run) {
			r.accel = "kvm"
		}
	}
	t.Logf("rig: accelerator %s", r.accel)

	// Two cameras on the host, reached from the guest at 10.0.2.2.
	r.startHostCameras("cam-a", "cam-b")
	return r
}

// startHostCameras runs rigcam on the host's loopback (QEMU's user network
// maps 10.0.2.2 to it).
func (r *rig) startHostCameras(ids ...string) {
	t := r.t
	cmd := exec.Command(filepath.Join(r.share, "bin", "rigcam"), ids...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.camCmd = cmd
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 1 && f[0] == "ready" {
			break
		}
		if len(f) == 3 && f[0] == "camera" {
			r.cams[f[1]] = strings.Replace(f[2], "127.0.0.1", "10.0.2.2", 1)
		}
	}
	go io.Copy(io.Discard, stdout)
	if len(r.cams) != len(ids) {
		t.Fatalf("rigcam started %d of %d cameras", len(r.cams), len(ids))
	}
}

// boot starts the guest and returns the seconds from QEMU start to the
// agent's hello (multi-user reached).
func (r *rig) boot(o BootOptions) float64 {
	r.t.Helper()
	o.Accel = r.accel
	vm, err := Boot(r.img, r.disks, r.share, r.run, o)
	if err != nil {
		// Seen on a loaded host: the 9p share's fstab mount raced the
		// virtio device ("no channels available"), so the agent never
		// started. That is the rig, not the box: power-cycle once.
		r.t.Logf("boot: %v; power-cycling once", err)
		vm, err = Boot(r.img, r.disks, r.share, r.run, o)
	}
	if err != nil {
		r.t.Fatalf("boot: %v", err)
	}
	r.vm = vm
	return vm.Hello.Sub(vm.Started).Seconds()
}

// sh runs a guest script and fails the test if the agent does not answer.
func (r *rig) sh(timeout time.Duration, script string) (string, int) {
	r.t.Helper()
	out, rc, err := r.vm.Sh(timeout, script)
	if err != nil {
		r.t.Fatalf("guest: %v\nscript:\n%s\noutput:\n%s", err, script, out)
	}
	return out, rc
}

// must runs a guest script that must succeed, and returns its output.
func (r *rig) must(timeout time.Duration, script string) string {
	r.t.Helper()
	out, rc := r.sh(timeout, script)
	if rc != 0 {
		r.t.Fatalf("guest script exited %d:\n%s\noutput:\n%s", rc, script, out)
	}
	return out
}

// status is `cctv status --json` as root.
func (r *rig) status() (api.Status, error) {
	out, _, err := r.vm.Sh(time.Minute, "cctv status --json 2>/dev/null")
	var s api.Status
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return s, fmt.Errorf("status --json: %v: %q", err, out)
	}
	return s, nil
}

// waitRecording waits until every camera in ids is recording with a frame
// younger than 3 s, and returns when that was first seen.
func (r *rig) waitRecording(timeout time.Duration, ids ...string) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		s, err := r.status()
		if err == nil {
			ok := 0
			last = ""
			for _, c := range s.Cameras {
				last += fmt.Sprintf("%s=%s(%s, last frame %.1fs ago) ", c.Camera, c.State, c.Reason, c.LastFrameAgeS)
				for _, id := range ids {
					if c.Camera == id && c.State == "recording" && !c.LastFrame.IsZero() && c.LastFrameAgeS < 3 {
						ok++
					}
				}
			}
			if ok == len(ids) {
				return time.Now(), nil
			}
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("cameras %v not recording after %s: %s", ids, timeout, last)
}

// guestOffset measures the guest clock against the host's: guest - host.
func (r *rig) guestOffset() time.Duration {
	r.t.Helper()
	best := time.Duration(1 << 62)
	var off time.Duration
	for range 3 {
		t0 := time.Now()
		out := r.must(30*time.Second, "date +%s.%N")
		t1 := time.Now()
		g, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
		if err != nil {
			r.t.Fatalf("guest date: %q", out)
		}
		if rtt := t1.Sub(t0); rtt < best {
			best = rtt
			mid := t0.Add(rtt / 2)
			off = time.Unix(0, int64(g*1e9)).Sub(mid)
		}
	}
	return off
}

// report prints a scenario's one line and keeps it for the summary.
func (r *rig) report(t *testing.T, name, figures string) {
	verdict := "PASS"
	if t.Failed() {
		verdict = "FAIL"
	}
	line := fmt.Sprintf("%s %-14s %s", verdict, name, figures)
	fmt.Println(line)
	r.mu.Lock()
	r.results = append(r.results, line)
	r.mu.Unlock()
}

func (r *rig) printSummary() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.results) == 0 {
		return
	}
	fmt.Println("\n=== vm-test summary (" + r.accel + ") ===")
	for _, l := range r.results {
		fmt.Println(l)
	}
	if p := os.Getenv("CCTV_VM_SUMMARY"); p != "" {
		os.WriteFile(p, []byte(strings.Join(r.results, "\n")+"\n"), 0o644)
	}
}

// config is the box's /etc/cctv/cctv.toml as the site writes it after
// installing: the host cameras, and extra text (more cameras).
func (r *rig) config(allowed []string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `site        = "VM rig"
box_id      = "vm-box-01"
data_dir    = "/var/lib/cctv"
socket      = "/run/cctv/cctv.sock"
timezone    = "Europe/London"
retention   = "30d"
segment     = %q
min_free    = "5%%"
sync_interval = "%s"
stall_timeout = "5s"
deletion_interval = "10s"
key_file    = "/etc/cctv/box_ed25519"
allowed_networks = [%s]

[access]
viewer     = "cctv-view"
operator   = "cctv-export"
supervisor = "cctv-admin"
`, segmentLen, syncInterval, quoteList(allowed))
	ids := make([]string, 0, len(r.cams))
	for id := range r.cams {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "\n[[camera]]\nid = %q\nurl = %q\nusername = \"recorder\"\npassword_file = \"/etc/cctv/secrets/%s\"\ntransport = \"tcp\"\n", id, r.cams[id], id)
	}
	b.WriteString(extra)
	return b.String()
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// writeConfig replaces the box's config in place (keeping the mode and
// owner the installer gave it) and, with dropin, re-runs the installer as
// the README says, to rewrite the camera-network drop-in.
func (r *rig) writeConfig(cfg string, dropin bool) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.share, "cctv.toml"), []byte(cfg), 0o644); err != nil {
		r.t.Fatal(err)
	}
	script := "cat /rig/cctv.toml >/etc/cctv/cctv.toml\n"
	if dropin {
		script += "/rig/repo/scripts/install.sh --binary /rig/bin/cctv >/rig/out/install-again.log 2>&1 || { cat /rig/out/install-again.log; exit 1; }\n"
	}
	r.must(5*time.Minute, script)
}

// journal returns cctv.service's journal since the given guest time spec.
func (r *rig) journal(since string) string {
	out, _ := r.sh(time.Minute, fmt.Sprintf("journalctl -q -o short-iso --no-pager -u cctv.service --since %q", since))
	return out
}

var exposureRE = regexp.MustCompile(`Overall exposure level for cctv\.service: ([0-9.]+)`)

func median(xs []float64) (lo, med, hi float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	mustRunIn(t, "", name, args...)
}

func mustRunIn(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// hostIP is an address of this host that is not loopback: from the guest
// it is a host outside QEMU's 10.0.2.0/24, reached through the user
// network's NAT, as any other machine on the site's network would be.
func hostIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String(), nil
		}
	}
	return "", fmt.Errorf("no non-loopback IPv4 address on this host")
}
