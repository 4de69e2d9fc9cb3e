package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/internal/testutil"
)

// TestStatus_DataDiskNotMounted: the data disk did not mount, so data_dir is
// an empty directory. status (daemon down) and list (read directly) raise
// an alert saying so and what to check, and never suggest cctv init, which
// would put the recordings on the system disk. A disk mounted there that is
// not the box's is told apart.
func TestStatus_DataDiskNotMounted(t *testing.T) {
	testutil.NeedTool(t, "findmnt")
	b := newBox(t)
	data := filepath.Join(b.dir, "data")
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	// Judged independently: is data_dir on the root file system?
	out, err := exec.Command("findmnt", "-n", "-o", "TARGET", "--target", data).Output()
	if err != nil {
		t.Fatal(err)
	}
	onRoot := strings.TrimSpace(string(out)) == "/"
	want := []string{"ALERT", "holds no cctv data directory", "nothing is being recorded", "findmnt " + data}
	if onRoot {
		want[1] = "the data disk is not mounted: " + data + " is on the system disk"
	}
	from, to := time.Now().Add(-time.Hour).Format(time.RFC3339), time.Now().Format(time.RFC3339)
	check := func(what string, want []string, args ...string) {
		t.Helper()
		code, _, stderr := b.run(args...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s", what, code, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s does not say %q:\n%s", what, w, stderr)
			}
		}
		if strings.Contains(stderr, "cctv init") {
			t.Errorf("%s suggests cctv init with the data disk missing:\n%s", what, stderr)
		}
	}
	check("status, root fs="+map[bool]string{true: "yes", false: "no"}[onRoot], want, "status")
	check("list", want, "list", "--from", from, "--to", to)
	if _, err := os.Stat(filepath.Join(data, "index.db")); err == nil {
		t.Error("an index was created in the empty data_dir")
	}

	// A disk mounted there, but not the box's: told apart.
	testutil.NeedRoot(t, "it mounts a file system at data_dir")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", data).CombinedOutput(); err != nil {
		testutil.Missing(t, "cannot mount a tmpfs here: %v: %s", err, out)
	}
	defer exec.Command("umount", "-l", data).Run()
	check("status with a foreign disk", []string{"ALERT", data + " holds no cctv data directory", "not this box's data disk"}, "status")
}
