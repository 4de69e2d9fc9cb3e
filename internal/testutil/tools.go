package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// NeedTools skips t when one of the external tools is not installed, naming
// it, unless the environment variable CI is set: in CI a missing tool fails
// the test, so that nothing is skipped silently there.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (CI is set, so this fails rather than skips; make deps installs it)", tool)
			}
			t.Skipf("%s is not installed (make deps installs it)", tool)
		}
	}
}
