package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Missing handles a test prerequisite that is not there (root, a tool, a
// mount): outside CI the test is skipped with the reason; with the CI
// environment variable set it fails, because CI must run every test and a
// silent skip there would hide a hole in the suite.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but %s (make deps installs what the tests need; CI runs as root)", msg)
	}
	t.Skip("skipping: " + msg)
}

// NeedRoot fails (in CI) or skips the test unless it runs as root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "the test needs root: %s", why)
	}
}

// NeedTool fails (in CI) or skips the test unless every tool is on PATH.
func NeedTool(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Missing(t, "%s is not installed", tool)
		}
	}
}
