//go:build vmtest

package vmtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Image is a built guest image (see image.sh).
type Image struct {
	Dir string // holds root.img, vmlinuz, initrd.img
}

// Disks are the guest's disks, kept across boots of one run.
type Disks struct {
	Root string // qcow2 overlay over the image's root.img
	Data string // raw; the data disk, on cache=none
	USB  string // raw, vfat; attached as a USB stick when non-empty
}

// VM is one boot of the guest: a QEMU process and the agent's port.
type VM struct {
	Share   string    // host side of /rig
	Console string    // serial console log
	Accel   string    // kvm or tcg
	Started time.Time // QEMU started
	Hello   time.Time // the agent answered: multi-user reached
	Uptime  float64   // guest uptime (s) when the agent started

	cmd  *exec.Cmd
	conn net.Conn
	rd   *bufio.Reader
	mu   sync.Mutex
	seq  int
	done chan struct{}
	werr error
}

// BootOptions choose what is attached at boot.
type BootOptions struct {
	Accel   string // kvm or tcg
	NoData  bool   // boot without the data disk (it "did not mount")
	NoUSB   bool
	Memory  int // MiB, default 1024
	Timeout time.Duration
}

// Boot starts QEMU and waits until the guest's agent says hello.
func Boot(img Image, d Disks, share, runDir string, o BootOptions) (*VM, error) {
	if o.Memory == 0 {
		o.Memory = 1024
	}
	if o.Timeout == 0 {
		o.Timeout = 4 * time.Minute
	}
	sock := filepath.Join(runDir, "agent.sock")
	os.Remove(sock)
	console := filepath.Join(runDir, fmt.Sprintf("console-%d.log", time.Now().UnixNano()))
	accel := "kvm"
	if o.Accel == "tcg" {
		accel = "tcg,thread=multi,tb-size=256"
	}
	args := []string{
		"-machine", "q35", "-accel", accel, "-cpu", "max", "-smp", "2", "-m", strconv.Itoa(o.Memory),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "file:" + console,
		"-kernel", filepath.Join(img.Dir, "vmlinuz"), "-initrd", filepath.Join(img.Dir, "initrd.img"),
		"-append", "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 rd.udev.log_level=3 mitigations=off",
		"-drive", "file=" + d.Root + ",if=virtio,format=qcow2,cache=unsafe,discard=unmap",
	}
	if !o.NoData {
		args = append(args, "-drive", "file="+d.Data+",if=virtio,format=raw,cache=none,aio=threads")
	}
	if d.USB != "" && !o.NoUSB {
		args = append(args, "-device", "qemu-xhci,id=xhci",
			"-drive", "file="+d.USB+",if=none,id=usbstick,format=raw,cache=writeback",
			"-device", "usb-storage,bus=xhci.0,drive=usbstick,removable=on")
	}
	args = append(args,
		"-netdev", "user,id=n0,ipv6=off", "-device", "virtio-net-pci,netdev=n0",
		"-virtfs", "local,path="+share+",mount_tag=rig,security_model=none,id=rig",
		"-device", "virtio-serial-pci",
		"-chardev", "socket,id=agent,path="+sock+",server=on,wait=off",
		"-device", "virtserialport,chardev=agent,name=rig",
	)
	cmd := exec.Command("qemu-system-x86_64", args...)
	qlog, err := os.Create(filepath.Join(runDir, "qemu.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = qlog, qlog
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	vm := &VM{Share: share, Console: console, Accel: o.Accel, cmd: cmd, done: make(chan struct{})}
	vm.Started = time.Now()
	if err := cmd.Start(); err != nil {
		qlog.Close()
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	go func() { vm.werr = cmd.Wait(); qlog.Close(); close(vm.done) }()

	deadline := time.Now().Add(o.Timeout)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			vm.conn = c
			break
		}
		select {
		case <-vm.done:
			b, _ := os.ReadFile(filepath.Join(runDir, "qemu.log"))
			return nil, fmt.Errorf("qemu exited at start: %v: %s", vm.werr, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			vm.Kill()
			return nil, errors.New("qemu agent socket never appeared")
		}
	}
	vm.rd = bufio.NewReader(vm.conn)
	line, err := vm.readLine(time.Until(deadline))
	if err != nil {
		vm.Kill()
		return nil, fmt.Errorf("boot: no hello from the guest agent: %w (console: %s)", err, tail(console, 15))
	}
	vm.Hello = time.Now()
	if f := strings.Fields(line); len(f) == 2 && f[0] == "hello" {
		vm.Uptime, _ = strconv.ParseFloat(f[1], 64)
	} else {
		vm.Kill()
		return nil, fmt.Errorf("boot: unexpected first line from the agent: %q", line)
	}
	return vm, nil
}

func (vm *VM) readLine(timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := vm.rd.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-vm.done:
		return "", fmt.Errorf("qemu exited: %v", vm.werr)
	case <-time.After(timeout):
		vm.conn.SetReadDeadline(time.Now()) // unblock the reader
		r := <-ch
		vm.conn.SetReadDeadline(time.Time{})
		if r.err == nil {
			return r.s, nil
		}
		return "", fmt.Errorf("timed out after %s", timeout)
	}
}

// Sh runs script with bash in the guest (as root, in /rig, with lib.sh
// sourced) and returns its combined output and exit code. err is set only
// when the agent did not answer in time or the VM is gone.
func (vm *VM) Sh(timeout time.Duration, script string) (string, int, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.seq++
	id := fmt.Sprintf("%d-%d", time.Now().UnixNano(), vm.seq)
	rel := filepath.Join("cmd", id+".sh")
	if err := os.MkdirAll(filepath.Join(vm.Share, "cmd"), 0o755); err != nil {
		return "", -1, err
	}
	body := "set -o pipefail\n. /rig/lib.sh\n" + script + "\n"
	if err := os.WriteFile(filepath.Join(vm.Share, rel), []byte(body), 0o644); err != nil {
		return "", -1, err
	}
	if _, err := fmt.Fprintf(vm.conn, "%s %s\n", id, rel); err != nil {
		return "", -1, fmt.Errorf("send to agent: %w", err)
	}
	for {
		line, err := vm.readLine(timeout)
		if err != nil {
			out, _ := os.ReadFile(filepath.Join(vm.Share, "out", id+".out"))
			return string(out), -1, fmt.Errorf("guest command: %w", err)
		}
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == id {
			rc, _ := strconv.Atoi(f[1])
			out, _ := os.ReadFile(filepath.Join(vm.Share, "out", id+".out"))
			return string(out), rc, nil
		}
		// a stale answer of a command that timed out earlier: skip it
	}
}

// Kill cuts the power: SIGKILL to QEMU, which loses whatever the guest had
// not yet written to its disks.
func (vm *VM) Kill() {
	if vm.cmd.Process != nil {
		vm.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-vm.done
	if vm.conn != nil {
		vm.conn.Close()
	}
}

// Poweroff shuts the guest down cleanly and waits for QEMU to exit.
func (vm *VM) Poweroff(timeout time.Duration) error {
	os.MkdirAll(filepath.Join(vm.Share, "cmd"), 0o755)
	if err := os.WriteFile(filepath.Join(vm.Share, "cmd", "poweroff.sh"), []byte("systemctl poweroff\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(vm.conn, "poweroff cmd/poweroff.sh\n")
	select {
	case <-vm.done:
		vm.conn.Close()
		return nil
	case <-time.After(timeout):
		vm.Kill()
		return errors.New("guest did not power off in time: killed")
	}
}

// Exited reports whether QEMU has exited.
func (vm *VM) Exited() bool {
	select {
	case <-vm.done:
		return true
	default:
		return false
	}
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// probeKVM reports whether KVM can run a guest here: it boots the image's
// kernel for a few seconds with -accel kvm and looks for kernel output.
func probeKVM(ctx context.Context, img Image, dir string) bool {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return false
	}
	log := filepath.Join(dir, "kvm-probe.log")
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-machine", "q35", "-accel", "kvm", "-cpu", "host", "-m", "256",
		"-nodefaults", "-display", "none", "-serial", "file:"+log,
		"-kernel", filepath.Join(img.Dir, "vmlinuz"), "-append", "console=ttyS0 panic=-1", "-no-reboot")
	out, _ := cmd.CombinedOutput()
	b, _ := os.ReadFile(log)
	ok := strings.Contains(string(b), "Linux version")
	if !ok {
		os.WriteFile(filepath.Join(dir, "kvm-probe.qemu.log"), out, 0o644)
	}
	return ok
}
