package export

import (
	"strings"
	"testing"
	"time"
)

// TestOffsetWords_CameraClocks: the report states a camera clock that is
// unset or more than 2 s off as such, and never claims agreement for a
// camera that reported no clock (issue 18).
func TestOffsetWords_CameraClocks(t *testing.T) {
	start := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	unix := start.UnixMilli()
	for _, tc := range []struct {
		name string
		c    Clock
		want string
		warn bool
	}{
		{"no clock", Clock{TimeSource: "arrival"}, "the camera did not report its own clock", false},
		{"agrees", Clock{TimeSource: "arrival", CameraClock: true, ClockOffsetMS: 120}, "the camera's clock was 0.120 s ahead of the recorder's", false},
		{"30 s slow", Clock{TimeSource: "arrival", CameraClock: true, ClockOffsetMS: -30000}, "30s behind the recorder's (more than 2 seconds)", true},
		{"90 s fast", Clock{TimeSource: "arrival", CameraClock: true, ClockOffsetMS: 90000}, "1m30s ahead of the recorder's", true},
		{"1970", Clock{TimeSource: "arrival", CameraClock: true, ClockOffsetMS: -unix + 5000}, "not set (it read 1970-01-01 00:00:05 UTC", true},
		{"1900", Clock{TimeSource: "arrival", CameraClock: true, ClockOffsetMS: -unix - 2208988800*1000}, "not set (it read 1900-01-01 00:00:00 UTC", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Start = start
			if got := offsetWords(tc.c); !strings.Contains(got, tc.want) {
				t.Errorf("offsetWords = %q, want it to contain %q", got, tc.want)
			}
			if clockWarn(tc.c) != tc.warn {
				t.Errorf("clockWarn = %v, want %v", !tc.warn, tc.warn)
			}
		})
	}
}
