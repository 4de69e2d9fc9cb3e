package recorder

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// beatConn is a camera's TCP connection taken out of Go's network poller:
// its reads never wait (nothing there is syscall.EAGAIN) and pacedConn
// makes them on the beat. In the poller, every burst of packets a camera
// sent woke a thread blocked in epoll_wait even when no goroutine was
// waiting for it (the poller is edge-triggered on every socket it holds):
// at 16 cameras about 650 wake-ups a second, most of the recorder's
// context switches. Writes (RTSP requests, RTCP reports: a few a minute)
// retry a full send buffer every millisecond until their deadline.
type beatConn struct {
	// mu is held shared across each system call on fd and exclusively by
	// Close, so fd is never used after it is closed (and its number,
	// perhaps, reused). No call under it waits.
	mu     sync.RWMutex
	fd     int // -1 once closed
	local  net.Addr
	remote net.Addr

	readDeadline, writeDeadline atomic.Int64 // unix ns; 0: none
}

// detachConn moves conn out of the network poller: its socket is
// duplicated and conn closed, which removes it from the poller's epoll set
// while the duplicate keeps the connection open.
func detachConn(conn net.Conn) (*beatConn, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, os.NewSyscallError("fcntl", dupErr)
	}
	c := &beatConn{fd: fd, local: conn.LocalAddr(), remote: conn.RemoteAddr()}
	if err := conn.Close(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}

// Read reads what the socket holds, without waiting: syscall.EAGAIN if
// nothing has arrived.
func (c *beatConn) Read(p []byte) (int, error) {
	n, err := c.call(&c.readDeadline, unix.Read, p)
	if err == nil && n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, err
}

// Write sends all of p, retrying a full send buffer every millisecond
// until the write deadline.
func (c *beatConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := c.call(&c.writeDeadline, unix.Write, p[done:])
		done += n
		switch {
		case err == unix.EAGAIN:
			time.Sleep(time.Millisecond)
		case err != nil:
			return done, err
		}
	}
	return done, nil
}

// call makes the system call sys on the open socket before its deadline,
// again if a signal interrupted it.
func (c *beatConn) call(deadline *atomic.Int64, sys func(int, []byte) (int, error), p []byte) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.fd < 0 {
		return 0, net.ErrClosed
	}
	if expired(deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	for {
		n, err := sys(c.fd, p)
		if err == unix.EINTR {
			continue
		}
		return max(n, 0), err
	}
}

// Close closes the socket once no call is using it.
func (c *beatConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return net.ErrClosed
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

func (c *beatConn) LocalAddr() net.Addr  { return c.local }
func (c *beatConn) RemoteAddr() net.Addr { return c.remote }

func (c *beatConn) SetDeadline(t time.Time) error {
	setDeadline(&c.readDeadline, t)
	setDeadline(&c.writeDeadline, t)
	return nil
}

func (c *beatConn) SetReadDeadline(t time.Time) error {
	setDeadline(&c.readDeadline, t)
	return nil
}

func (c *beatConn) SetWriteDeadline(t time.Time) error {
	setDeadline(&c.writeDeadline, t)
	return nil
}

func setDeadline(d *atomic.Int64, t time.Time) {
	if t.IsZero() {
		d.Store(0)
		return
	}
	d.Store(t.UnixNano())
}

func expired(d *atomic.Int64) bool {
	v := d.Load()
	return v != 0 && time.Now().UnixNano() >= v
}
