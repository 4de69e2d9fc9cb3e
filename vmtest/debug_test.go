//go:build vmtest && vmdebug

package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestVMShell (build tags vmtest and vmdebug: a tool, not a test of CI) boots
// the disks a kept run left in CCTV_VM_DIR and runs the
// script CCTV_VM_SCRIPT in the guest, for looking into a failed run.
func TestVMShell(t *testing.T) {
	dir := os.Getenv("CCTV_VM_DIR")
	if dir == "" {
		t.Skip("set CCTV_VM_DIR to a kept run's working directory")
	}
	home, _ := os.UserHomeDir()
	imgs, _ := filepath.Glob(filepath.Join(home, ".cache", "cctv-vm", "*", "done"))
	if len(imgs) == 0 {
		t.Fatal("no image")
	}
	img := Image{Dir: filepath.Dir(imgs[len(imgs)-1])}
	d := Disks{Root: filepath.Join(dir, "root.qcow2"), Data: filepath.Join(dir, "data.img"), USB: filepath.Join(dir, "usb.img")}
	vm, err := Boot(img, d, filepath.Join(dir, "share"), dir, BootOptions{Accel: "tcg"})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Kill()
	out, rc, err := vm.Sh(10*time.Minute, os.Getenv("CCTV_VM_SCRIPT"))
	fmt.Printf("boot %.0fs\n%s\nexit %d err %v\n", vm.Hello.Sub(vm.Started).Seconds(), out, rc, err)
}
