package daemon

import (
	"testing"
	"time"

	"github.com/council/cctv/api"
)

func TestCameraDownAlert(t *testing.T) {
	now := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		cs   api.CameraStatus
		want bool
	}{
		{"recording", api.CameraStatus{State: "recording", Since: now.Add(-time.Hour)}, false},
		{"down 10 s", api.CameraStatus{State: "down", Since: now.Add(-10 * time.Second)}, false},
		{"down 2 min", api.CameraStatus{State: "down", Since: now.Add(-2 * time.Minute)}, true},
		{"retrying, outage 2 min old", api.CameraStatus{State: "connecting", Since: now.Add(-time.Second), DownSince: now.Add(-2 * time.Minute)}, true},
		{"wrong password, at once", api.CameraStatus{State: "error", Since: now.Add(-time.Second), Reason: "wrong user name or password for camera c1 (the camera answered 401 Unauthorized)"}, true},
		{"password_file unreadable, at once", api.CameraStatus{State: "error", Since: now, Reason: "cannot read password_file /etc/cctv/secrets/c1: permission denied"}, true},
		{"other error, 5 s", api.CameraStatus{State: "error", Since: now.Add(-5 * time.Second), Reason: "unsupported codec"}, false},
	} {
		tc.cs.Camera = "c1"
		if _, got := cameraDownAlert(tc.cs, now, time.Minute, time.UTC); got != tc.want {
			t.Errorf("%s: alert %v, want %v", tc.name, got, tc.want)
		}
	}
}
