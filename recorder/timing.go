package recorder

import (
	"sync/atomic"
	"time"
)

// jumpThreshold is how far the box's wall clock may move against the
// monotonic clock before it counts as a jump (SPEC 4).
const jumpThreshold = 2 * time.Second

// jumpDetector compares the wall clock with the monotonic clock at each
// frame. Wall readings come from the injectable clock; monotonic readings
// from the runtime, so a test can step the wall clock for real.
type jumpDetector struct {
	refWall time.Time // wall reading, monotonic part stripped
	refMono time.Time // time.Now() with its monotonic reading
	set     bool
}

// observe records a wall reading taken at monotonic instant mono, and returns
// how far the wall clock moved beyond the elapsed monotonic time since the
// last observation (zero when within the threshold).
func (j *jumpDetector) observe(wall, mono time.Time) time.Duration {
	wall = wall.Round(0)
	if !j.set {
		j.refWall, j.refMono, j.set = wall, mono, true
		return 0
	}
	drift := wall.Sub(j.refWall) - mono.Sub(j.refMono)
	j.refWall, j.refMono = wall, mono
	if drift > jumpThreshold || drift < -jumpThreshold {
		return drift
	}
	return 0
}

// ntpEpochOffset is the number of seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// ntpToTime converts a 64-bit NTP timestamp (RFC 3550: seconds since 1900 in
// the high word, a binary fraction of a second in the low word) to a time.
func ntpToTime(v uint64) time.Time {
	secs := int64(v>>32) - ntpEpochOffset
	nanos := int64((v & 0xffffffff) * 1e9 >> 32)
	return time.Unix(secs, nanos).UTC()
}

// senderClock maps RTP timestamps to the camera's wall clock using the last
// RTCP sender report. (gortsplib v4.16.2 decodes the NTP fraction of sender
// reports as nanoseconds, which is wrong by up to a few seconds, so the
// recorder decodes them itself.) Reports arrive on another goroutine than
// RTP over UDP, hence the atomic pointer; one allocation per report.
type senderClock struct {
	last      atomic.Pointer[srSample]
	clockRate int64
}

type srSample struct {
	ntp time.Time
	rtp uint32
}

// report records a sender report.
func (c *senderClock) report(ntp uint64, rtpTime uint32) {
	c.last.Store(&srSample{ntp: ntpToTime(ntp), rtp: rtpTime})
}

// at returns the camera wall-clock time of an RTP timestamp, once a sender
// report has arrived.
func (c *senderClock) at(ts uint32) (time.Time, bool) {
	s := c.last.Load()
	if s == nil {
		return time.Time{}, false
	}
	d := int64(int32(ts - s.rtp)) // signed: the timestamp may precede the report
	return s.ntp.Add(time.Duration(d * int64(time.Second) / c.clockRate)), true
}
