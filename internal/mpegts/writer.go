// Package mpegts writes one H.264 or H.265 video stream as an MPEG transport
// stream (ISO/IEC 13818-1), in pure Go, for the recorder's segments.
//
// # Format
//
// A stream holds one program (number 1): the PAT on PID 0, the PMT on PID
// 0x1000 and the video on PID 0x100 (the PIDs FFmpeg uses), with the video
// PID carrying the PCR. The PAT and PMT open the stream, precede every
// keyframe and are repeated at least every TablesEvery of decode time. Each
// access unit is one PES packet (stream id 0xE0, PES_packet_length 0, the
// data_alignment_indicator set) with its PTS, and its DTS when it differs;
// the first TS packet of every PES carries a PCR (the DTS less PCRLead) and,
// for a keyframe, the random_access_indicator. The last TS packet of a PES
// is padded with adaptation-field stuffing, so a PES never shares a packet.
//
// # Guarantees
//
// Access units are written byte for byte as given: nothing is added to,
// removed from or rewritten in them (no access unit delimiter is inserted).
// Continuity counters run per PID without a break across the stream.
//
// Bytes are kept in a buffer of BufferSize and reach the io.Writer in whole
// buffers, on Flush and on Close; every write is a whole number of 188-byte
// packets. A write error is sticky: it is returned by the call that met it
// and every later one, wrapped with %w.
//
// The steady state allocates nothing: WriteFrame copies into the buffer.
package mpegts

import (
	"errors"
	"fmt"
	"io"
)

// PacketSize is the size of one transport-stream packet.
const PacketSize = 188

// StreamType is the PMT stream type of the video.
type StreamType byte

// Stream types the writer supports.
const (
	H264 StreamType = 0x1b
	H265 StreamType = 0x24
)

// PIDs of the program's tables and stream.
const (
	PIDPAT   = 0x0000
	PIDPMT   = 0x1000
	PIDVideo = 0x0100
)

// TablesEvery is the longest decode-time distance between two repeats of
// the PAT and PMT (90 kHz units: half a second), so a reader that starts
// mid-file finds the program soon.
const TablesEvery = 45000

// PCRLead is how far the PCR runs behind a frame's DTS (90 kHz units: 100
// ms), so a decoder following the PCR has each frame before it is due.
const PCRLead = 9000

// BufferSize is the default size of the write buffer: about a quarter
// second of a 4 Mbit/s stream, a whole number of packets.
const BufferSize = 700 * PacketSize

// ErrClosed is returned by WriteFrame and Flush after Close.
var ErrClosed = errors.New("mpegts writer closed")

// Writer writes one video stream as MPEG-TS. It is not safe for concurrent
// use.
type Writer struct {
	w   io.Writer
	buf []byte // whole packets not yet written

	pat, pmt  [PacketSize]byte // prebuilt; only the continuity counter changes
	ccPAT     byte
	ccPMT     byte
	ccVideo   byte
	tablesDTS int64 // DTS at which the tables were last written
	tables    bool  // the tables have been written at least once

	pes [19]byte // the PES header being built

	err    error
	closed bool
}

// NewWriter returns a Writer of a stream of type st to w with a buffer of
// bufSize bytes (rounded down to whole packets; BufferSize if smaller than
// one packet). Nothing is written until the first frame. w is never closed.
func NewWriter(w io.Writer, st StreamType, bufSize int) (*Writer, error) {
	if bufSize < PacketSize {
		bufSize = BufferSize
	}
	m := &Writer{buf: make([]byte, 0, bufSize/PacketSize*PacketSize)}
	if err := m.start("new mpegts writer", w, st); err != nil {
		return nil, err
	}
	return m, nil
}

// Reset makes the writer start a new stream to w, as NewWriter would, but
// keeping its buffer. Unflushed bytes of the previous stream are dropped.
func (m *Writer) Reset(w io.Writer, st StreamType) error {
	return m.start("reset mpegts writer", w, st)
}

// start begins a new stream of type st to w in m's buffer.
func (m *Writer) start(op string, w io.Writer, st StreamType) error {
	if st != H264 && st != H265 {
		return fmt.Errorf("%s: unsupported stream type %#x", op, byte(st))
	}
	*m = Writer{w: w, buf: m.buf[:0]}
	m.buildTables(st)
	return nil
}

// WriteFrame writes one access unit in Annex-B form (start codes included)
// as one PES packet. pts and dts are in 90 kHz units (taken modulo 2^33)
// with pts >= dts; key marks an IDR (H.264) or IRAP (H.265) access unit.
func (m *Writer) WriteFrame(au []byte, pts, dts int64, key bool) error {
	switch {
	case m.closed:
		return fmt.Errorf("write frame: %w", ErrClosed)
	case m.err != nil:
		return m.err
	case len(au) == 0:
		return errors.New("write frame: empty access unit")
	case pts < dts:
		return fmt.Errorf("write frame: pts %d before dts %d", pts, dts)
	}
	if !m.tables || key || dts-m.tablesDTS >= TablesEvery || dts < m.tablesDTS {
		m.writeTables()
		m.tablesDTS, m.tables = dts, true
	}
	head := m.pesHeader(pts, dts)
	pcr := max(dts-PCRLead, 0)
	first := true
	for first || len(au) > 0 {
		p, err := m.next()
		if err != nil {
			return fmt.Errorf("write frame: %w", err)
		}
		p[0], p[1], p[2] = 0x47, byte(PIDVideo>>8), byte(PIDVideo&0xff)
		if first {
			p[1] |= 0x40 // payload_unit_start_indicator
		}
		// Adaptation field: PCR (and random access) on the first packet,
		// stuffing on the last.
		af := 0 // adaptation field bytes, its length byte included
		var flags byte
		if first {
			af, flags = 8, 0x10 // length, flags, 6-byte PCR
			if key {
				flags |= 0x40
			}
		}
		space := PacketSize - 4 - af
		hl := 0
		if first {
			hl = len(head)
		}
		if n := hl + len(au); n < space {
			af += space - n // stuff the rest
		}
		if af > 0 {
			p[3] = 0x30 | m.ccVideo // adaptation field and payload
			p[4] = byte(af - 1)
			if af > 1 {
				p[5] = flags
				i := 6
				if flags&0x10 != 0 {
					putPCR(p[6:12], pcr)
					i = 12
				}
				for ; i < 4+af; i++ {
					p[i] = 0xff
				}
			}
		} else {
			p[3] = 0x10 | m.ccVideo // payload only
		}
		m.ccVideo = (m.ccVideo + 1) & 0x0f
		o := 4 + af
		if first {
			o += copy(p[o:], head)
		}
		au = au[copy(p[o:], au):]
		first = false
	}
	return nil
}

// Flush writes every buffered byte to the writer.
func (m *Writer) Flush() error {
	if m.closed {
		return fmt.Errorf("flush: %w", ErrClosed)
	}
	if err := m.flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Close flushes the buffer. It does not close the io.Writer. It returns the
// first write error, if any (also one already returned). Later calls return
// nil.
func (m *Writer) Close() error {
	if m.closed {
		return nil
	}
	err := m.flush()
	m.closed = true
	m.w = nil
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func (m *Writer) flush() error {
	if m.err != nil {
		return m.err
	}
	if len(m.buf) == 0 {
		return nil
	}
	n, err := m.w.Write(m.buf)
	if err == nil && n < len(m.buf) {
		err = io.ErrShortWrite
	}
	m.buf = m.buf[:0]
	if err != nil {
		m.err = err
	}
	return err
}

// next returns the next packet's bytes in the buffer, flushing it first
// when full.
func (m *Writer) next() ([]byte, error) {
	if m.err != nil {
		return nil, m.err
	}
	if len(m.buf)+PacketSize > cap(m.buf) {
		if err := m.flush(); err != nil {
			return nil, err
		}
	}
	n := len(m.buf)
	m.buf = m.buf[:n+PacketSize]
	return m.buf[n : n+PacketSize], nil
}

func (m *Writer) writeTables() {
	for _, t := range []struct {
		pkt *[PacketSize]byte
		cc  *byte
	}{{&m.pat, &m.ccPAT}, {&m.pmt, &m.ccPMT}} {
		p, err := m.next()
		if err != nil {
			return // sticky: WriteFrame's next call to next returns it
		}
		copy(p, t.pkt[:])
		p[3] = 0x10 | *t.cc
		*t.cc = (*t.cc + 1) & 0x0f
	}
}

// pesHeader builds the PES header of an access unit in m.pes.
func (m *Writer) pesHeader(pts, dts int64) []byte {
	h := m.pes[:]
	h[0], h[1], h[2], h[3] = 0, 0, 1, 0xe0 // start code, video stream 0
	h[4], h[5] = 0, 0                      // unbounded length
	h[6] = 0x84                            // '10', data_alignment_indicator
	if pts == dts {
		h[7], h[8] = 0x80, 5
		putTS(h[9:14], 0x2, pts)
		return h[:14]
	}
	h[7], h[8] = 0xc0, 10
	putTS(h[9:14], 0x3, pts)
	putTS(h[14:19], 0x1, dts)
	return h[:19]
}

// putTS writes a 33-bit PTS or DTS with its 4-bit prefix and marker bits.
func putTS(b []byte, prefix byte, t int64) {
	t &= 1<<33 - 1
	b[0] = prefix<<4 | byte(t>>29)&0x0e | 1
	b[1] = byte(t >> 22)
	b[2] = byte(t>>14)&0xfe | 1
	b[3] = byte(t >> 7)
	b[4] = byte(t<<1)&0xfe | 1
}

// putPCR writes a PCR with a base of t (90 kHz, modulo 2^33) and no
// extension.
func putPCR(b []byte, t int64) {
	t &= 1<<33 - 1
	b[0] = byte(t >> 25)
	b[1] = byte(t >> 17)
	b[2] = byte(t >> 9)
	b[3] = byte(t >> 1)
	b[4] = byte(t<<7) | 0x7e // 6 reserved bits, extension bit 8 = 0
	b[5] = 0
}

// buildTables prebuilds the PAT and PMT packets.
func (m *Writer) buildTables(st StreamType) {
	pat := []byte{
		0x00,       // table_id
		0xb0, 0x0d, // section_syntax_indicator, '0', reserved, length 13
		0x00, 0x01, // transport_stream_id
		0xc1,       // reserved, version 0, current_next_indicator
		0x00, 0x00, // section_number, last_section_number
		0x00, 0x01, // program_number 1
		0xe0 | PIDPMT>>8, PIDPMT & 0xff,
	}
	pmt := []byte{
		0x02,       // table_id
		0xb0, 0x12, // length 18
		0x00, 0x01, // program_number 1
		0xc1,
		0x00, 0x00,
		0xe0 | PIDVideo>>8, PIDVideo & 0xff, // PCR_PID
		0xf0, 0x00, // program_info_length 0
		byte(st),
		0xe0 | PIDVideo>>8, PIDVideo & 0xff,
		0xf0, 0x00, // ES_info_length 0
	}
	fill := func(p *[PacketSize]byte, pid int, sec []byte) {
		p[0], p[1], p[2], p[3] = 0x47, 0x40|byte(pid>>8), byte(pid), 0x10
		p[4] = 0 // pointer_field
		n := 5 + copy(p[5:], sec)
		c := crc32(sec)
		p[n], p[n+1], p[n+2], p[n+3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
		for i := n + 4; i < PacketSize; i++ {
			p[i] = 0xff
		}
	}
	fill(&m.pat, PIDPAT, pat)
	fill(&m.pmt, PIDPMT, pmt)
}

// crc32 is the MPEG-2 CRC of PSI sections (polynomial 0x04C11DB7, not
// reflected, initial value all ones, no final XOR).
func crc32(b []byte) uint32 {
	c := uint32(0xffffffff)
	for _, v := range b {
		c ^= uint32(v) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
	}
	return c
}
