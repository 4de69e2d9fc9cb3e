package recorder

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/council/cctv/internal/media"
)

// ptsOffset keeps decode timestamps positive when a camera sends B-frames
// (DTS runs a few frames behind PTS). One second in 90 kHz units.
const ptsOffset = 90000

// depacketizer turns RTP packets of one H.264 or H.265 stream into access
// units in Annex-B form. It never rewrites or drops a NAL unit the camera
// sent; the only bytes it adds are start codes and, before a keyframe that
// arrives without them, the parameter sets last seen (in-band or in the SDP),
// so that every segment plays on its own.
type depacketizer struct {
	codec  media.Codec
	decode func(*rtp.Packet) ([][]byte, error)
	dts    func(au [][]byte, pts int64) (int64, error)

	// Latest parameter sets, copied out of the stream (or the SDP).
	vps, sps, pps []byte

	synced bool // a random-access unit has been seen
}

// newDepacketizer builds a depacketizer for an H.264 or H.265 format.
func newDepacketizer(forma format.Format) (*depacketizer, error) {
	switch f := forma.(type) {
	case *format.H264:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("h264 decoder: %w", err)
		}
		ex := h264.NewDTSExtractor()
		d := &depacketizer{codec: media.H264, decode: dec.Decode, dts: ex.Extract}
		sps, pps := f.SafeParams()
		d.sps, d.pps = clone(sps), clone(pps)
		return d, nil
	case *format.H265:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, fmt.Errorf("h265 decoder: %w", err)
		}
		ex := h265.NewDTSExtractor()
		d := &depacketizer{codec: media.H265, decode: dec.Decode, dts: ex.Extract}
		vps, sps, pps := f.SafeParams()
		d.vps, d.sps, d.pps = clone(vps), clone(sps), clone(pps)
		return d, nil
	default:
		return nil, fmt.Errorf("unsupported format %s", forma.Codec())
	}
}

// errNotReady means the packet completed no access unit that can be written
// yet: more packets are needed, or no keyframe has been seen. It is normal
// and never logged.
var errNotReady = errors.New("no access unit ready")

// push feeds one RTP packet with its presentation time (90 kHz). When the
// packet completes an access unit it is appended to dst in Annex-B form and
// returned with its DTS and whether it is a keyframe.
func (d *depacketizer) push(dst []byte, pkt *rtp.Packet, pts int64) (au []byte, dts int64, key bool, err error) {
	nalus, err := d.decode(pkt)
	if err != nil {
		if isMorePackets(err) {
			return dst, 0, false, errNotReady
		}
		return dst, 0, false, err
	}
	if len(nalus) == 0 {
		return dst, 0, false, errNotReady
	}
	key = d.isRandomAccess(nalus)
	if !d.synced {
		if !key {
			return dst, 0, false, errNotReady
		}
		d.synced = true
	}
	pts += ptsOffset
	dts, err = d.dts(nalus, pts)
	if err != nil {
		// A stream the extractor cannot follow still gets recorded: with
		// DTS = PTS the frames stay in order for a stream without B-frames.
		dts = pts
	}
	hasParams := d.noteParams(nalus)
	if key && !hasParams {
		dst = d.appendParams(dst)
	}
	for _, n := range nalus {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst, dts, key, nil
}

func isMorePackets(err error) bool {
	return errors.Is(err, rtph264.ErrMorePacketsNeeded) ||
		errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) ||
		errors.Is(err, rtph265.ErrMorePacketsNeeded) ||
		errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious)
}

func (d *depacketizer) isRandomAccess(nalus [][]byte) bool {
	if d.codec == media.H265 {
		return h265.IsRandomAccess(nalus)
	}
	return h264.IsRandomAccess(nalus)
}

// noteParams remembers parameter sets found in the access unit and reports
// whether it carries a complete set.
func (d *depacketizer) noteParams(nalus [][]byte) bool {
	var vps, sps, pps bool
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		if d.codec == media.H265 {
			if len(n) < 2 {
				continue
			}
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT:
				d.vps, vps = append(d.vps[:0], n...), true
			case h265.NALUType_SPS_NUT:
				d.sps, sps = append(d.sps[:0], n...), true
			case h265.NALUType_PPS_NUT:
				d.pps, pps = append(d.pps[:0], n...), true
			}
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			d.sps, sps = append(d.sps[:0], n...), true
		case h264.NALUTypePPS:
			d.pps, pps = append(d.pps[:0], n...), true
		}
	}
	if d.codec == media.H265 {
		return vps && sps && pps
	}
	return sps && pps
}

func (d *depacketizer) appendParams(dst []byte) []byte {
	for _, p := range [][]byte{d.vps, d.sps, d.pps} {
		if len(p) == 0 {
			continue
		}
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, p...)
	}
	return dst
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
