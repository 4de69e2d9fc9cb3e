package recorder

import (
	"errors"
	"io"
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
// for all of them. The kernel keeps what arrives in between (a few tens of
// kilobytes a camera); frames reach the segment and the live view up to
// readPace later, timestamps untouched.
const readPace = 20 * time.Millisecond

// connReadBuffer is the most read from a camera's connection at once:
// gortsplib reads through a 4 KiB buffer of its own (v4.16.2 has no option
// for it), and a keyframe of a busy scene is a few hundred kilobytes.
const connReadBuffer = 64 << 10

// pacedConn is a camera's RTSP/TCP connection read in batches on the
// readPace beat. A read that fills the buffer is followed at once by the
// next (more is waiting); one that drains the socket waits for the beat.
// At the beat the socket is read without waiting on it: a socket with
// nothing yet (half the beats of a 25 fps camera) is tried again at the
// next beat rather than parked on the poller, which would wake the reader
// when the next packet lands, off the beat.
type pacedConn struct {
	net.Conn
	buf    []byte
	r, w   int   // buf[r:w] is read and not yet handed on
	full   bool  // the last read filled buf
	err    error // came with the last read: returned once buf is handed on
	paceNS int64 // readPace, in nanoseconds (tests shorten it)
	reads  int   // reads of the connection (tests count them)

	// raw reads the socket without waiting (nil: Conn is not a socket,
	// and is read as it is).
	raw    syscall.RawConn
	readFn func(fd uintptr) bool // made once: no allocation per read
	rawN   int
	rawErr error
}

func newPacedConn(conn net.Conn) *pacedConn {
	c := &pacedConn{Conn: conn, buf: make([]byte, connReadBuffer), paceNS: int64(readPace)}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.readFn = func(fd uintptr) bool {
				c.rawN, c.rawErr = syscall.Read(int(fd), c.buf)
				return true // never wait for the socket: the beat does
			}
		}
	}
	return c
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
		n, err := c.fill()
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

// fill reads what the socket holds into buf; syscall.EAGAIN if nothing.
func (c *pacedConn) fill() (int, error) {
	c.reads++
	if c.raw == nil {
		return c.Conn.Read(c.buf)
	}
	for {
		if err := c.raw.Read(c.readFn); err != nil {
			return 0, err // closed, or a deadline passed
		}
		switch {
		case c.rawErr == syscall.EINTR:
			continue
		case c.rawErr != nil:
			return 0, c.rawErr // EAGAIN: nothing yet
		case c.rawN == 0:
			return 0, io.EOF
		}
		return c.rawN, nil
	}
}

// awaitBeat sleeps until the next multiple of the pace on the box clock, so
// every camera of the box reads at the same instants. A clock step shortens
// or lengthens one wait by less than the pace.
func (c *pacedConn) awaitBeat() {
	now := time.Now().UnixNano()
	time.Sleep(time.Duration(c.paceNS - now%c.paceNS))
}
