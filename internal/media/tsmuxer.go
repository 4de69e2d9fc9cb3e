package media

import (
	"errors"
	"fmt"
	"io"

	"github.com/asticode/go-astiav"
)

// tsBufferSize is the size of the AVIO buffer between the muxer and the
// writer. Bytes reach the writer when it fills, or on Flush and Close.
const tsBufferSize = 64 << 10

// ErrMuxerClosed is returned by WriteFrame and Flush after Close.
var ErrMuxerClosed = errors.New("muxer closed")

// TSMuxer writes a single-video-stream MPEG-TS to an io.Writer. Access units
// are muxed byte for byte (FFmpeg may prepend an access unit delimiter).
// Bytes are buffered (64 KiB) and reach the writer when the buffer fills, on
// Flush and on Close.
//
// A TSMuxer is not safe for concurrent use. After any error from WriteFrame
// or Flush it is unusable: the caller must Close it and start a new one.
type TSMuxer struct {
	sink    *tsSink
	fc      *astiav.FormatContext
	pb      *astiav.IOContext
	pkt     *astiav.Packet
	rescale bool // the muxer did not keep the 1/90000 time base
	tb      astiav.Rational
	err     error // sticky error
	closed  bool
}

// tsSink is what the astiav write callback sees. go-astiav v0.16.0 never
// removes write callbacks from its global handler table, so the sink drops
// its writer on Close to avoid keeping it reachable.
type tsSink struct {
	w   io.Writer
	err error // first write error, kept because astiav reduces it to AVERROR_UNKNOWN
}

func (s *tsSink) write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.w == nil {
		s.err = ErrMuxerClosed
		return 0, s.err
	}
	n, err := s.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.err = err
		return n, err
	}
	return n, nil
}

var mpegts90k = astiav.NewRational(1, 90000)

// NewTSMuxer starts an MPEG-TS with one video stream of the given codec and
// writes its header (PAT/PMT) into the buffer. w is not closed by the muxer.
func NewTSMuxer(w io.Writer, codec Codec) (_ *TSMuxer, err error) {
	var id astiav.CodecID
	switch codec {
	case H264:
		id = astiav.CodecIDH264
	case H265:
		id = astiav.CodecIDHevc
	default:
		return nil, fmt.Errorf("new ts muxer: unsupported codec %v", codec)
	}

	m := &TSMuxer{sink: &tsSink{w: w}}
	defer func() {
		if err != nil {
			m.free()
		}
	}()

	if m.fc, err = astiav.AllocOutputFormatContext(nil, "mpegts", ""); err != nil {
		return nil, fmt.Errorf("new ts muxer: alloc output context: %w", err)
	}
	if m.pb, err = astiav.AllocIOContext(tsBufferSize, true, nil, nil, m.sink.write); err != nil {
		return nil, fmt.Errorf("new ts muxer: alloc io context: %w", err)
	}
	m.fc.SetPb(m.pb)
	m.fc.SetFlags(m.fc.Flags().Add(astiav.FormatContextFlagCustomIo))

	st := m.fc.NewStream(nil)
	if st == nil {
		return nil, errors.New("new ts muxer: new stream: out of memory")
	}
	cp := st.CodecParameters()
	cp.SetMediaType(astiav.MediaTypeVideo)
	cp.SetCodecID(id)
	st.SetTimeBase(mpegts90k)

	if m.pkt = astiav.AllocPacket(); m.pkt == nil {
		return nil, errors.New("new ts muxer: alloc packet: out of memory")
	}

	opts := astiav.NewDictionary()
	defer opts.Free()
	// By default libavformat flushes the AVIO buffer after every packet,
	// which would mean one callback (and one C-to-Go copy) per frame; the
	// caller decides when bytes must reach the writer by calling Flush.
	if err := opts.Set("flush_packets", "0", 0); err != nil {
		return nil, fmt.Errorf("new ts muxer: set options: %w", err)
	}
	if err := m.fc.WriteHeader(opts); err != nil {
		return nil, m.fail("new ts muxer: write header", err)
	}
	m.tb = st.TimeBase()
	m.rescale = m.tb.Num() != 1 || m.tb.Den() != 90000
	return m, nil
}

// fail builds the error for op, preferring the writer's error, and makes it
// sticky.
func (m *TSMuxer) fail(op string, err error) error {
	if m.sink.err != nil {
		err = m.sink.err
	}
	m.err = fmt.Errorf("%s: %w", op, err)
	return m.err
}

// WriteFrame muxes one access unit in Annex-B form (with start codes) as
// given. pts and dts are in 90 kHz units and dts must increase strictly; key
// marks an IDR/IRAP access unit. The bytes may stay buffered until the
// buffer fills or Flush is called.
func (m *TSMuxer) WriteFrame(au []byte, pts, dts int64, key bool) error {
	if m.closed {
		return fmt.Errorf("write frame: %w", ErrMuxerClosed)
	}
	if m.err != nil {
		return m.err
	}
	if len(au) == 0 {
		return errors.New("write frame: empty access unit")
	}
	if err := m.pkt.FromData(au); err != nil {
		return fmt.Errorf("write frame: packet from data: %w", err)
	}
	defer m.pkt.Unref()
	m.pkt.SetStreamIndex(0)
	m.pkt.SetPts(pts)
	m.pkt.SetDts(dts)
	if key {
		m.pkt.SetFlags(astiav.NewPacketFlags(astiav.PacketFlagKey))
	}
	if m.rescale {
		m.pkt.RescaleTs(mpegts90k, m.tb)
	}
	if err := m.fc.WriteFrame(m.pkt); err != nil {
		return m.fail("write frame", err)
	}
	if m.sink.err != nil {
		return m.fail("write frame", m.sink.err)
	}
	return nil
}

// Flush pushes everything muxed so far to the writer. Call it before
// syncing the file the writer feeds. On success every byte of every frame
// passed to WriteFrame has been written to w.
func (m *TSMuxer) Flush() error {
	if m.closed {
		return fmt.Errorf("flush: %w", ErrMuxerClosed)
	}
	if m.err != nil {
		return m.err
	}
	// A nil packet flushes data queued inside the muxer itself.
	if err := m.fc.WriteFrame(nil); err != nil {
		return m.fail("flush", err)
	}
	m.pb.Flush()
	if m.sink.err != nil {
		return m.fail("flush", m.sink.err)
	}
	return nil
}

// Close writes the trailer, flushes and frees all C memory. It does not
// close the writer. It returns the first write error, if any (also one
// already returned by WriteFrame or Flush). It is idempotent: later calls
// return nil.
func (m *TSMuxer) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	defer m.free()
	if m.err != nil {
		return m.err
	}
	if err := m.fc.WriteTrailer(); err != nil {
		return m.fail("close", err)
	}
	m.pb.Flush()
	if m.sink.err != nil {
		return m.fail("close", m.sink.err)
	}
	return nil
}

func (m *TSMuxer) free() {
	if m.pkt != nil {
		m.pkt.Free()
		m.pkt = nil
	}
	if m.fc != nil {
		// avformat_free_context leaves a custom pb alone; astiav's
		// SetPb(nil) would dereference nil, so pb is freed separately.
		m.fc.Free()
		m.fc = nil
	}
	if m.pb != nil {
		m.pb.Free()
		m.pb = nil
	}
	m.sink.w = nil
}
