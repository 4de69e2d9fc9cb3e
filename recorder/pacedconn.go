package recorder

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// readPace is how often a camera's RTSP/TCP connection is read once it has
// been drained. A camera sends a picture as a burst of RTP packets, 25 or
// more a second; reading each burst as it lands woke the reader goroutine,
// and with it an OS thread, for every one (at 16 cameras two thirds of the
// recorder's CPU went to the kernel switching threads: issue 14). Read on a
// shared beat instead, every camera's connection is taken at the same
// instants in large reads, and the threads wake 1/readPace times a second
// for all of them. The kernel keeps what arrives in between (20 KB of a
// 4 Mbit/s camera; its receive buffer grows on its own for more); frames
// reach the segment and the live view up to readPace later, timestamps
// untouched. Measured at 16 cameras (make bench-record), CPU per camera
// against ffmpeg's: 0.50 at 20 ms, 0.42 at 40 ms, 0.33 at 100 ms (but RSS
// +0.5 MiB a camera, frames queued longer). It was 40 ms while RSS was over
// its goal; once the daemon handed back its start-up pages (package
// residency) there was room. On a later day's box, at 16 cameras: 40 ms
// gave 0.57-0.67 (four runs) at 2.9-3.0 MiB a camera, 100 ms 0.42-0.46
// (four runs) at 3.2-3.3 MiB.
const readPace = 100 * time.Millisecond

// connReadBuffer is the most read from a camera's connection at once:
// gortsplib reads through a 4 KiB buffer of its own (v4.16.2 has no option
// for it), and a keyframe of a busy scene is a few hundred kilobytes.
const connReadBuffer = 64 << 10

// pacedConn is a camera's RTSP/TCP connection read in batches on the
// readPace beat. A read that fills the buffer is followed at once by the
// next (more is waiting); one that drains the socket waits for the beat.
// Under it is a beatConn, whose reads never wait: a socket with nothing yet
// (half the beats of a 25 fps camera) is tried again at the next beat.
type pacedConn struct {
	net.Conn
	buf   []byte
	r, w  int           // buf[r:w] is read and not yet handed on
	full  bool          // the last read filled buf
	err   error         // came with the last read: returned once buf is handed on
	pace  time.Duration // readPace (tests lengthen it)
	reads int           // reads of the connection (tests count them)
}

func newPacedConn(conn net.Conn) *pacedConn {
	return &pacedConn{Conn: conn, buf: make([]byte, connReadBuffer), pace: readPace}
}

// Read hands on what the last read took, or reads again: at once after a
// full read, else at the next beat.
func (c *pacedConn) Read(p []byte) (int, error) {
	for c.r == c.w {
		if err := c.err; err != nil {
			c.err = nil
			return 0, err
		}
		if !c.full {
			c.awaitBeat()
		}
		c.reads++
		n, err := c.Conn.Read(c.buf)
		if errors.Is(err, syscall.EAGAIN) {
			c.full = false
			continue
		}
		if n == 0 {
			c.full = false
			return 0, err
		}
		c.r, c.w, c.full, c.err = 0, n, n == len(c.buf), err
	}
	n := copy(p, c.buf[c.r:c.w])
	c.r += n
	return n, nil
}

// awaitBeat sleeps until the next beat.
func (c *pacedConn) awaitBeat() {
	time.Sleep(untilBeat(c.pace, 0))
}

// untilBeat is the time to the next instant that is offset past a multiple
// of period on the box clock: the instants every camera of the box acts
// on. A clock step shortens or lengthens one wait by less than the period.
func untilBeat(period, offset time.Duration) time.Duration {
	since := (time.Now().UnixNano() - int64(offset)) % int64(period)
	if since < 0 {
		since += int64(period)
	}
	return period - time.Duration(since)
}

// beatTicker fires at the multiples of its period (plus an offset) on the
// box clock, so the periodic work of every camera's writer falls on the
// beats the reads are made on: one wake-up of the process, not one per
// camera at its own phase. Like a time.Ticker it drops ticks a slow reader
// misses; rearm after each.
type beatTicker struct {
	C              <-chan time.Time
	t              *time.Timer
	period, offset time.Duration
}

func newBeatTicker(period, offset time.Duration) *beatTicker {
	t := time.NewTimer(untilBeat(period, offset))
	return &beatTicker{C: t.C, t: t, period: period, offset: offset}
}

// rearm sets the ticker for the next beat after a tick was taken.
func (b *beatTicker) rearm() { b.t.Reset(untilBeat(b.period, b.offset)) }

// Stop stops the ticker.
func (b *beatTicker) Stop() { b.t.Stop() }

// syncGroup is how many cameras fsync on the same beat.
const syncGroup = 8

// syncOffset spreads the cameras' fsyncs over the beats of a sync
// interval, syncGroup cameras to a beat: camera slot s syncs s/syncGroup
// beats into it (modulo the beats there are). All on one beat, 64 cameras'
// fsyncs queued on the disk together every second and held writers up for
// seconds (a 5-minute run at 64 cameras dropped 1,556 frames, against 40
// with each camera at its own phase); each on a beat of its own, the
// blocking calls wake threads on every beat (16 cameras: 0.50-0.55 of
// ffmpeg's CPU, against 0.42-0.45 all on one beat).
func syncOffset(interval time.Duration, slot int) time.Duration {
	beats := int(interval / readPace)
	if beats <= 1 {
		return 0
	}
	return time.Duration(slot/syncGroup%beats) * readPace
}
