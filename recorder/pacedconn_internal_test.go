package recorder

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
	"testing"
	"time"
)

// scriptedConn returns its reads in order: each is data (up to the
// buffer) and an error.
type scriptedConn struct {
	net.Conn
	reads []scriptedRead
	at    []time.Time // when each read was made
}

type scriptedRead struct {
	n   int
	err error
}

func (c *scriptedConn) Read(p []byte) (int, error) {
	c.at = append(c.at, time.Now())
	if len(c.reads) == 0 {
		return 0, io.EOF
	}
	r := c.reads[0]
	c.reads = c.reads[1:]
	return copy(p, bytes.Repeat([]byte{'x'}, r.n)), r.err
}

// TestPacedConn_WaitsForTheBeatOnlyAfterDraining: a read that filled the
// buffer is followed at once; one that drained the socket waits for the
// next beat, as does one that found nothing; data read with an error is handed on before the error, and an
// error without data (a deadline) is returned once, not kept.
func TestPacedConn_WaitsForTheBeatOnlyAfterDraining(t *testing.T) {
	errDeadline := os.ErrDeadlineExceeded
	sc := &scriptedConn{reads: []scriptedRead{
		{connReadBuffer, nil}, // full: the next read follows at once
		{100, nil},            // drained
		{0, syscall.EAGAIN},   // after a beat: nothing yet, tried at the next
		{0, errDeadline},      // after a beat: returned, not kept
		{50, io.EOF},          // after a beat: 50 bytes, then EOF
	}}
	const pace = 200 * time.Millisecond
	c := newPacedConn(sc)
	c.pace = pace
	p := make([]byte, 4<<10)
	total := 0
	var errs []error
	for len(errs) < 2 {
		n, err := c.Read(p)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if total != connReadBuffer+150 {
		t.Errorf("read %d bytes, want %d", total, connReadBuffer+150)
	}
	if !errors.Is(errs[0], errDeadline) || errs[1] != io.EOF {
		t.Errorf("errors %v, want the deadline, then EOF", errs)
	}
	if len(sc.at) != 5 {
		t.Fatalf("%d reads of the connection, want 5", len(sc.at))
	}
	if gap := sc.at[1].Sub(sc.at[0]); gap > pace/2 {
		t.Errorf("a full read was followed after %v, want at once", gap)
	}
	for i := 2; i < 5; i++ {
		if on := sc.at[i].UnixNano() % int64(pace); on > int64(pace/2) {
			t.Errorf("read %d after a drain came %v after a beat, want on the beat", i, time.Duration(on))
		}
		if gap := sc.at[i].Sub(sc.at[i-1]); gap < pace/4 {
			t.Errorf("read %d came %v after a drained read, want the next beat", i, gap)
		}
	}
}

// TestPacedConn_TCPBurstsReadOnTheBeat: a camera-like sender (a burst of
// packets every 4 ms over real TCP) is read byte for byte, in one read of
// the socket per beat rather than one per burst, and never by waiting on
// the socket (a beat with nothing there tries again at the next). The
// connection is a beatConn, out of the network poller.
func TestPacedConn_TCPBurstsReadOnTheBeat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sentc := make(chan []byte, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			sentc <- nil
			return
		}
		defer conn.Close()
		var sent []byte
		defer func() { sentc <- sent }()
		deadline := time.Now().Add(400 * time.Millisecond)
		for time.Now().Before(deadline) {
			burst := make([]byte, 1400*(1+rng.IntN(8)))
			for i := range burst {
				burst[i] = byte(rng.Uint32())
			}
			sent = append(sent, burst...)
			if _, err := conn.Write(burst); err != nil {
				return
			}
			time.Sleep(4 * time.Millisecond)
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	bc, err := detachConn(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	c := newPacedConn(bc)
	got, err := io.ReadAll(struct{ io.Reader }{c}) // through 512-byte reads as well as large ones
	if err != nil {
		t.Fatal(err)
	}
	sent := <-sentc
	if !bytes.Equal(got, sent) {
		t.Fatalf("read %d bytes differing from the %d sent", len(got), len(sent))
	}
	// 400 ms of bursts is about 100 of them and 20 beats; allow for the
	// first read, EOF, and a beat split by a burst in flight.
	if c.reads > 40 {
		t.Errorf("%d reads of the socket (without waiting on it) for %d bytes in 400 ms, want about one a beat (%v)", c.reads, len(sent), readPace)
	}
}

// epollRegistrations counts the sockets and files registered in the
// process's epoll sets (Go's network poller is one), from /proc.
func epollRegistrations(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil || target != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + fd.Name())
		if err != nil {
			t.Fatal(err)
		}
		n += bytes.Count(info, []byte("tfd:"))
	}
	return n
}

// TestBeatConn_OutOfThePollerClosesAndTimesOut: a detached connection
// leaves the process's epoll set (what arrives on it wakes no thread),
// keeps the connection (data both ways), is not inherited by programs the
// daemon runs, returns EAGAIN when nothing is there, honours a write
// deadline against a peer that reads nothing, and after Close reports
// net.ErrClosed.
func TestBeatConn_OutOfThePollerClosesAndTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- conn
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()

	before := epollRegistrations(t)
	bc, err := detachConn(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	if after := epollRegistrations(t); after != before-1 {
		t.Errorf("epoll registrations %d → %d after detaching, want one fewer", before, after)
	}
	flags, err := unix.FcntlInt(uintptr(bc.fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("detached socket flags %#x (%v), want close-on-exec", flags, err)
	}

	buf := make([]byte, 64)
	if _, err := bc.Read(buf); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("read with nothing sent: %v, want EAGAIN", err)
	}
	if _, err := peer.Write([]byte("PLAY")); err != nil {
		t.Fatal(err)
	}
	var n int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if n, err = bc.Read(buf); !errors.Is(err, syscall.EAGAIN) {
			break
		}
	}
	if err != nil || string(buf[:n]) != "PLAY" {
		t.Errorf("read %q, %v; want PLAY", buf[:n], err)
	}
	if _, err := bc.Write([]byte("RTSP/1.0 200 OK")); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := io.ReadFull(peer, buf[:15]); err != nil || string(buf[:n]) != "RTSP/1.0 200 OK" {
		t.Errorf("peer read %q, %v", buf[:n], err)
	}

	// The peer reads nothing more: a large write fills both buffers and
	// stops at its deadline.
	bc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	start := time.Now()
	_, err = bc.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write to a peer that reads nothing: %v, want the deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("write past its deadline returned after %v", took)
	}

	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v, want net.ErrClosed", err)
	}
	if _, err := bc.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v, want net.ErrClosed", err)
	}
}

// TestSyncOffset_SpreadsCamerasOverTheBeats: 64 cameras syncing every
// second sync syncGroup to a beat, on 64/syncGroup beats of it, and a
// beatTicker with an offset fires that far past the period's multiples.
func TestSyncOffset_SpreadsCamerasOverTheBeats(t *testing.T) {
	perBeat := map[time.Duration]int{}
	for slot := range 64 {
		off := syncOffset(time.Second, slot)
		if off < 0 || off >= time.Second || off%readPace != 0 {
			t.Fatalf("slot %d: offset %v, want a beat inside the second", slot, off)
		}
		perBeat[off]++
	}
	if len(perBeat) != 64/syncGroup {
		t.Errorf("64 cameras sync on %d beats of the second, want %d", len(perBeat), 64/syncGroup)
	}
	for off, n := range perBeat {
		if n != syncGroup {
			t.Errorf("%d cameras sync on the beat at %v, want %d", n, off, syncGroup)
		}
	}
	if off := syncOffset(readPace, 5); off != 0 {
		t.Errorf("an interval of one beat: offset %v, want 0", off)
	}

	const period, offset = 400 * time.Millisecond, 200 * time.Millisecond
	bt := newBeatTicker(period, offset)
	defer bt.Stop()
	for range 2 {
		at := <-bt.C
		bt.rearm()
		if phase := time.Duration(at.UnixNano() % int64(period)); phase < offset || phase > offset+period*3/8 {
			t.Errorf("tick %v into the period, want %v", phase, offset)
		}
	}
}
