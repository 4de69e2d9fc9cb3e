package recorder

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
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
	const pace = 100 * time.Millisecond
	c := newPacedConn(sc)
	c.paceNS = int64(pace)
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
// the socket (a beat with nothing there tries again at the next).
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
	defer raw.Close()
	c := newPacedConn(raw)
	if c.raw == nil {
		t.Fatal("a TCP connection is read through its raw socket")
	}
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
