package recorder

import (
	"strings"
	"testing"
)

func TestCamera_Redact_RemovesCredentials(t *testing.T) {
	c := &Camera{cfg: CameraConfig{
		URL:      "rtsp://admin:s3cr3t-url@10.20.0.11/stream",
		Password: "s3cr3t-file",
	}}
	msg := c.redact(`describe rtsp://admin:s3cr3t-url@10.20.0.11/stream: 401; tried password s3cr3t-file`)
	if strings.Contains(msg, "s3cr3t") {
		t.Errorf("redacted message still holds a secret: %s", msg)
	}
}

func TestNTPToTime_RFC3550Fraction(t *testing.T) {
	// 2026-11-22T14:05:00.5Z: seconds since 1900 in the high word, half a
	// second as 0x80000000 in the low word.
	secs := uint64(1795356300 + ntpEpochOffset)
	got := ntpToTime(secs<<32 | 0x80000000)
	if want := "2026-11-22T14:05:00.5Z"; got.Format("2006-01-02T15:04:05.999Z07:00") != want {
		t.Errorf("ntpToTime = %s, want %s", got.Format("2006-01-02T15:04:05.999Z07:00"), want)
	}
}
