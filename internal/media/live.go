package media

import (
	"errors"
	"fmt"
	"io"

	"github.com/asticode/go-astiav"
)

// LiveMuxer writes several cameras' access units as one MPEG-TS with one
// video stream each, for a live view: every frame reaches the writer as
// soon as it is written (no buffering), so a player shows it at once.
// Packets are copied as given, never re-encoded. Not safe for concurrent
// use; after an error it is unusable.
type LiveMuxer struct {
	sink *tsSink
	fc   *astiav.FormatContext
	pb   *astiav.IOContext
	pkt  *astiav.Packet
	tbs  []astiav.Rational
	err  error
}

// NewLiveMuxer starts the stream with one video stream per codec and
// writes its header. w is not closed by the muxer.
func NewLiveMuxer(w io.Writer, codecs []Codec) (_ *LiveMuxer, err error) {
	if len(codecs) == 0 {
		return nil, errors.New("new live muxer: no stream")
	}
	m := &LiveMuxer{sink: &tsSink{w: w}}
	defer func() {
		if err != nil {
			m.free()
		}
	}()
	if m.fc, err = astiav.AllocOutputFormatContext(nil, "mpegts", ""); err != nil {
		return nil, fmt.Errorf("new live muxer: alloc output context: %w", err)
	}
	if m.pb, err = astiav.AllocIOContext(tsBufferSize, true, nil, nil, m.sink.write); err != nil {
		return nil, fmt.Errorf("new live muxer: alloc io context: %w", err)
	}
	m.fc.SetPb(m.pb)
	m.fc.SetFlags(m.fc.Flags().Add(astiav.FormatContextFlagCustomIo))
	for _, c := range codecs {
		var id astiav.CodecID
		switch c {
		case H264:
			id = astiav.CodecIDH264
		case H265:
			id = astiav.CodecIDHevc
		default:
			return nil, fmt.Errorf("new live muxer: unsupported codec %v", c)
		}
		st := m.fc.NewStream(nil)
		if st == nil {
			return nil, errors.New("new live muxer: new stream: out of memory")
		}
		st.CodecParameters().SetMediaType(astiav.MediaTypeVideo)
		st.CodecParameters().SetCodecID(id)
		st.SetTimeBase(mpegts90k)
	}
	if m.pkt = astiav.AllocPacket(); m.pkt == nil {
		return nil, errors.New("new live muxer: alloc packet: out of memory")
	}
	if err := m.fc.WriteHeader(nil); err != nil {
		return nil, m.fail("new live muxer: write header", err)
	}
	for _, st := range m.fc.Streams() {
		m.tbs = append(m.tbs, st.TimeBase())
	}
	m.pb.Flush()
	return m, nil
}

func (m *LiveMuxer) fail(op string, err error) error {
	if m.sink.err != nil {
		err = m.sink.err
	}
	m.err = fmt.Errorf("%s: %w", op, err)
	return m.err
}

// WriteFrame muxes one Annex-B access unit into stream (an index into the
// codecs given to NewLiveMuxer) and sends it to the writer. pts and dts are
// 90 kHz; dts must increase strictly within a stream.
func (m *LiveMuxer) WriteFrame(stream int, au []byte, pts, dts int64, key bool) error {
	if m.err != nil {
		return m.err
	}
	if stream < 0 || stream >= len(m.tbs) || len(au) == 0 {
		return fmt.Errorf("live frame: no stream %d or empty access unit", stream)
	}
	if err := m.pkt.FromData(au); err != nil {
		return fmt.Errorf("live frame: packet from data: %w", err)
	}
	defer m.pkt.Unref()
	m.pkt.SetStreamIndex(stream)
	m.pkt.SetPts(pts)
	m.pkt.SetDts(dts)
	if key {
		m.pkt.SetFlags(astiav.NewPacketFlags(astiav.PacketFlagKey))
	}
	m.pkt.RescaleTs(mpegts90k, m.tbs[stream])
	if err := m.fc.WriteFrame(m.pkt); err != nil {
		return m.fail("live frame", err)
	}
	m.pb.Flush()
	if m.sink.err != nil {
		return m.fail("live frame", m.sink.err)
	}
	return nil
}

// Close writes the trailer and frees the muxer; it returns the first error
// met. It does not close the writer.
func (m *LiveMuxer) Close() error {
	if m.fc == nil {
		return m.err
	}
	defer m.free()
	if m.err != nil {
		return m.err
	}
	if err := m.fc.WriteTrailer(); err != nil {
		return m.fail("close live stream", err)
	}
	m.pb.Flush()
	if m.sink.err != nil {
		return m.fail("close live stream", m.sink.err)
	}
	return nil
}

func (m *LiveMuxer) free() {
	if m.pkt != nil {
		m.pkt.Free()
		m.pkt = nil
	}
	if m.fc != nil {
		m.fc.Free()
		m.fc = nil
	}
	if m.pb != nil {
		m.pb.Free()
		m.pb = nil
	}
	m.sink.w = nil
}
