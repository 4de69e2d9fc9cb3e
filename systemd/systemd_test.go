// Package systemd holds the recorder's unit, sysusers and tmpfiles files.
// Its test checks the unit with systemd's own security analysis.
package systemd

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/council/cctv/internal/testutil"
)

// maxExposure is the target of SPEC 9: well-hardened units reach 1.0–1.2.
const maxExposure = 1.5

func TestUnit_SecurityExposure(t *testing.T) {
	testutil.NeedTool(t, "systemd-analyze")
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", "cctv.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for cctv\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure figure in:\n%s", out)
	}
	exposure, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exposure %.1f", exposure)
	if exposure > maxExposure {
		t.Errorf("exposure %.1f, want at most %.1f:\n%s", exposure, maxExposure, out)
	}
}

func TestUnit_Verifies(t *testing.T) {
	testutil.NeedTool(t, "systemd-analyze")
	// verify checks syntax and unknown directives; the binary path need not
	// exist here, so only report lines about the unit file itself.
	out, _ := exec.Command("systemd-analyze", "verify", "--man=no", "./cctv.service").CombinedOutput()
	for _, line := range regexp.MustCompile(`(?m)^.*cctv\.service:\d+:.*$`).FindAll(out, -1) {
		t.Errorf("unit file problem: %s", line)
	}
}
