package daemon

import (
	"strings"
	"testing"
	"time"
)

// TestCameraClockAlert: an unset camera clock and a camera clock seconds
// off are said in words people read (issue 18).
func TestCameraClockAlert(t *testing.T) {
	at := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		off  int64
		want string
	}{
		{-at.UnixMilli(), "camera c1: its clock is not set (it reads 1970-01-01 00:00 UTC)"},
		{-at.UnixMilli() - 2208988800*1000, "not set (it reads 1900-01-01 00:00 UTC)"},
		{-30040, "its clock is 30s behind the box's"},
		{90000, "its clock is 1m30s ahead of the box's"},
	} {
		if got := cameraClockAlert("c1", at, tc.off); !strings.Contains(got, tc.want) {
			t.Errorf("cameraClockAlert(%d) = %q, want %q", tc.off, got, tc.want)
		}
	}
}
