package recorder

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/council/cctv/internal/codec"
)

// ptsOffset keeps decode timestamps positive when a camera sends B-frames
// (DTS runs a few frames behind PTS). One second in 90 kHz units.
const ptsOffset = 90000

// depacketizer turns RTP packets of one H.264 or H.265 stream into access
// units in Annex-B form, with presentation and decode times on one timeline
// per session (the RTP clock, unwrapped, from the session's first packet).
//
// It never rewrites or drops a NAL unit of an access unit it delivers; the
// only bytes it adds are start codes and, before a keyframe that arrives
// without them, the parameter sets last seen (in-band or in the SDP), so
// that every segment plays on its own. NAL units that are not part of a
// picture (parameter sets, SEI) are delivered with the picture that follows
// them, however the camera packs them: in the SDP only, aggregated in a
// STAP-A/AP, or in packets of their own before every keyframe, with or
// without the marker bit.
//
// Loss: a gap in the RTP sequence numbers, or a packet the RTP decoder
// rejects, damages the access unit it falls in. That access unit is
// dropped, and so is every later one until the next keyframe (they may
// refer to it), and so are the packets that share the timestamp of the
// first packet after the gap (the lost packets may have been the start of
// its access unit). Lost packets and dropped access units are counted
// (takeCounts); the stream itself carries on.
type depacketizer struct {
	codec     codec.Codec
	newDTS    func() func(au [][]byte, pts int64) (int64, error)
	clockRate int64

	dts func(au [][]byte, pts int64) (int64, error)

	inFU bool // a fragmented NAL unit is being assembled in cur (its last one)

	// Latest parameter sets, copied out of the stream (or the SDP).
	vps, sps, pps []byte

	synced bool // a keyframe has been delivered since the start or the last damage
	began  bool // a keyframe has been delivered: from then on, what is left out is counted

	// Sequence numbers.
	seqKnown bool
	nextSeq  uint16
	skipping bool   // dropping packets with timestamp skipTS after a loss
	skipTS   uint32 // the timestamp of the first packet after the loss

	cur   auBuf    // the access unit being assembled
	out   auBuf    // the one being delivered
	nalus [][]byte // out's NAL units
	// withParams is a keyframe's NAL units behind the parameter sets last
	// seen, for the DTS extractor.
	withParams [][]byte

	// Timeline: RTP timestamps unwrapped from the session's first.
	tsKnown bool
	tsLast  uint32
	tsExt   int64

	lost, dropped int64 // since the last takeCounts
}

// newDepacketizer builds a depacketizer for an H.264 or H.265 format.
func newDepacketizer(forma format.Format) (*depacketizer, error) {
	var d *depacketizer
	switch f := forma.(type) {
	case *format.H264:
		d = &depacketizer{codec: codec.H264,
			newDTS: func() func([][]byte, int64) (int64, error) { return h264.NewDTSExtractor().Extract },
		}
		sps, pps := f.SafeParams()
		d.sps, d.pps = clone(sps), clone(pps)
	case *format.H265:
		d = &depacketizer{codec: codec.H265,
			newDTS: func() func([][]byte, int64) (int64, error) { return h265.NewDTSExtractor().Extract },
		}
		vps, sps, pps := f.SafeParams()
		d.vps, d.sps, d.pps = clone(vps), clone(sps), clone(pps)
	default:
		return nil, fmt.Errorf("unsupported format %s", forma.Codec())
	}
	d.clockRate = int64(forma.ClockRate())
	if d.clockRate <= 0 {
		d.clockRate = 90000
	}
	d.dts = d.newDTS()
	return d, nil
}

// errNotReady means the packet completed no access unit that can be written
// yet: more packets are needed, or no keyframe has been seen. It is normal
// and never logged.
var errNotReady = errors.New("no access unit ready")

// errDamaged means the RTP decoder rejected a packet; the access unit it
// belonged to was dropped and the stream resumes at the next keyframe.
var errDamaged = errors.New("damaged access unit dropped")

// takeCounts returns the packets lost and access units dropped since the
// last call.
func (d *depacketizer) takeCounts() (lost, dropped int64) {
	lost, dropped = d.lost, d.dropped
	d.lost, d.dropped = 0, 0
	return lost, dropped
}

// unsync drops access units until the next keyframe (the writer could not
// use one, so what depends on it is useless too).
func (d *depacketizer) unsync() {
	d.synced = false
}

// damage drops the access unit being assembled and everything until the
// next keyframe, and skips the rest of the packets stamped ts.
func (d *depacketizer) damage(ts uint32) {
	if d.began {
		// The unit the packets went missing from, and the one whose packets
		// are skipped if that is another; later dependants are counted as
		// they come.
		d.dropped++
		if !d.cur.hasVCL || d.cur.ts != ts {
			d.dropped++
		}
	}
	d.cur.reset()
	d.synced = false
	d.skipping, d.skipTS = true, ts
	d.inFU = false
}

// push feeds one RTP packet. When the packet completes an access unit it is
// appended to dst in Annex-B form and returned with its presentation and
// decode times (90 kHz, ptsOffset added) and whether it is a keyframe.
func (d *depacketizer) push(dst []byte, pkt *rtp.Packet) (au []byte, pts, dts int64, key bool, err error) {
	if d.seqKnown {
		switch diff := int16(pkt.SequenceNumber - d.nextSeq); {
		case diff < 0:
			return dst, 0, 0, false, errNotReady // duplicate or too late: already passed
		case diff > 0:
			d.lost += int64(diff)
			d.damage(pkt.Timestamp)
		}
	}
	d.seqKnown, d.nextSeq = true, pkt.SequenceNumber+1
	if d.skipping {
		if pkt.Timestamp == d.skipTS {
			return dst, 0, 0, false, errNotReady
		}
		d.skipping = false
	}

	// The payload is checked whole before anything is taken from it, so
	// taking it needs no bounds checks of its own.
	kind, err := d.check(pkt.Payload)
	if err != nil {
		d.damage(pkt.Timestamp)
		return dst, 0, 0, false, errDamaged
	}
	cont := kind == fuMiddle || kind == fuEnd
	switch {
	case cont && !d.inFU:
		// The rest of a unit whose start was never seen (the stream was
		// joined mid-unit): nothing to keep.
		return dst, 0, 0, false, errNotReady
	case d.inFU != cont || (d.inFU && pkt.Timestamp != d.cur.fuTS):
		// A fragmented unit broken off.
		d.damage(pkt.Timestamp)
		return dst, 0, 0, false, errDamaged
	}

	var done bool // a complete unit is in d.out
	if d.cur.hasVCL && pkt.Timestamp != d.cur.ts && !d.inFU {
		// The previous picture ended without a marker (lost marker packets
		// are caught above; some cameras never set it): it is complete.
		done = d.finish()
	}
	d.take(kind, pkt.Payload, pkt.Timestamp)
	if len(d.cur.arena) > maxAccessUnit || len(d.cur.bounds) > maxNALUs {
		d.damage(pkt.Timestamp)
		return dst, 0, 0, false, errDamaged
	}
	if !done {
		if !pkt.Marker || !d.cur.hasVCL || d.inFU {
			// More of the picture to come, or only parameter sets and SEI
			// so far: they go with the picture that follows.
			return dst, 0, 0, false, errNotReady
		}
		d.finish()
	}
	return d.deliver(dst)
}

// finish makes the unit being assembled the one to deliver and starts an
// empty one (the two buffers swap, so the steady state allocates nothing).
func (d *depacketizer) finish() bool {
	d.cur, d.out = d.out, d.cur
	d.cur.reset()
	return true
}

// deliver writes the unit finish set aside.
func (d *depacketizer) deliver(dst []byte) ([]byte, int64, int64, bool, error) {
	d.nalus = d.out.split(d.nalus[:0])
	nalus := d.nalus
	key := d.isRandomAccess(nalus)
	if !d.synced {
		if !key {
			if d.began {
				d.dropped++
			}
			return dst, 0, 0, false, errNotReady
		}
		d.synced, d.began = true, true
		d.dts = d.newDTS() // decode order restarts at a keyframe
	}
	pts := d.unwrap(d.out.ts) + ptsOffset
	hasParams := d.noteParams(nalus)
	// The DTS extractor reads the SPS from the access unit: a keyframe
	// without parameter sets (a camera that sends them only in the SDP)
	// is shown it with the ones it will be written with.
	dtsAU := nalus
	if key && !hasParams {
		d.withParams = d.withParams[:0]
		for _, p := range [][]byte{d.vps, d.sps, d.pps} {
			if len(p) > 0 {
				d.withParams = append(d.withParams, p)
			}
		}
		d.withParams = append(d.withParams, nalus...)
		dtsAU = d.withParams
	}
	dts, err := d.dts(dtsAU, pts)
	if err != nil {
		// A stream the extractor cannot follow still gets recorded: with
		// DTS = PTS the frames stay in order for a stream without B-frames.
		// The writer drops what would break the muxer.
		dts = pts
	}
	if key && !hasParams {
		dst = d.appendParams(dst)
	}
	for _, n := range nalus {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst, pts, dts, key, nil
}

// auBuf holds the NAL units of one access unit, copied out of the packets
// (gortsplib reuses their buffers).
type auBuf struct {
	arena  []byte
	bounds []int // end offset in arena of each NAL unit
	hasVCL bool  // it holds (part of) a picture
	ts     uint32
	fuTS   uint32 // timestamp of the fragmented unit being assembled
}

// extend appends n to the last NAL unit (a fragment of it).
func (b *auBuf) extend(n []byte) {
	b.arena = append(b.arena, n...)
	b.bounds[len(b.bounds)-1] = len(b.arena)
}

func (b *auBuf) reset() { b.arena, b.bounds, b.hasVCL = b.arena[:0], b.bounds[:0], false }

func (b *auBuf) add(n []byte) {
	b.arena = append(b.arena, n...)
	b.bounds = append(b.bounds, len(b.arena))
}

func (b *auBuf) split(dst [][]byte) [][]byte {
	start := 0
	for _, end := range b.bounds {
		dst = append(dst, b.arena[start:end])
		start = end
	}
	return dst
}

// unwrap returns the 90 kHz time of an RTP timestamp on the session's
// timeline, which starts at 0 with the first unit delivered. Timestamps may
// go back (B-frames arrive in decode order): the step is signed.
func (d *depacketizer) unwrap(ts uint32) int64 {
	if !d.tsKnown {
		d.tsKnown, d.tsLast = true, ts
	}
	d.tsExt += int64(int32(ts - d.tsLast))
	d.tsLast = ts
	return d.tsExt * 90000 / d.clockRate
}

// isVCL reports whether a NAL unit is (a slice of) a picture.
func (d *depacketizer) isVCL(n []byte) bool {
	if d.codec == codec.H265 {
		return (n[0]>>1)&0x3f < 32
	}
	t := n[0] & 0x1f
	return t >= 1 && t <= 5
}

func (d *depacketizer) isRandomAccess(nalus [][]byte) bool {
	if d.codec == codec.H265 {
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
		if d.codec == codec.H265 {
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
	if d.codec == codec.H265 {
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

// Limits of one access unit: larger is a broken or hostile stream.
const (
	maxAccessUnit = 16 << 20
	maxNALUs      = 4096
)

// Kinds of RTP payload (RFC 6184 for H.264, RFC 7798 for H.265).
type payloadKind int

const (
	single    payloadKind = iota // one whole NAL unit
	aggregate                    // STAP-A / AP: whole NAL units with 16-bit sizes
	fuStart                      // the first fragment of a NAL unit
	fuMiddle
	fuEnd
)

// check validates an RTP payload and returns its kind. It reads headers
// only and takes nothing.
func (d *depacketizer) check(p []byte) (payloadKind, error) {
	hdr := 1 // payload header size
	var typ, aggr, fu int
	if d.codec == codec.H265 {
		if len(p) < 2 {
			return 0, errors.New("payload shorter than its header")
		}
		hdr, typ, aggr, fu = 2, int(p[0]>>1)&0x3f, 48, 49
	} else {
		if len(p) < 1 {
			return 0, errors.New("empty payload")
		}
		typ, aggr, fu = int(p[0]&0x1f), 24, 28
	}
	switch {
	case typ == aggr:
		for r := p[hdr:]; len(r) > 0; {
			if len(r) < 2 {
				return 0, errors.New("aggregation packet: truncated size")
			}
			n := int(r[0])<<8 | int(r[1])
			if n > len(r)-2 {
				return 0, errors.New("aggregation packet: unit beyond the payload")
			}
			r = r[2+n:]
		}
		return aggregate, nil
	case typ == fu:
		if len(p) < hdr+2 {
			return 0, errors.New("fragmentation unit too short")
		}
		start, end := p[hdr]&0x80 != 0, p[hdr]&0x40 != 0
		switch {
		case start && end:
			return 0, errors.New("fragmentation unit both starts and ends")
		case start:
			return fuStart, nil
		case end:
			return fuEnd, nil
		}
		return fuMiddle, nil
	case d.codec == codec.H264 && (typ == 0 || typ > 23),
		d.codec == codec.H265 && typ > 47:
		return 0, fmt.Errorf("unsupported packetization (NAL unit type %d)", typ)
	}
	return single, nil
}

// take appends what a payload of the given kind (checked) carries to the
// access unit being assembled.
func (d *depacketizer) take(kind payloadKind, p []byte, ts uint32) {
	add := func(n []byte) {
		if len(n) == 0 {
			return
		}
		if d.isVCL(n) {
			d.cur.hasVCL, d.cur.ts = true, ts
		}
		d.cur.add(n)
	}
	switch kind {
	case single:
		add(p)
	case aggregate:
		r := p[1:]
		if d.codec == codec.H265 {
			r = p[2:]
		}
		for len(r) > 0 {
			n := int(r[0])<<8 | int(r[1])
			add(r[2 : 2+n])
			r = r[2+n:]
		}
	case fuStart:
		// The NAL unit header is rebuilt from the payload header and the
		// fragment header's type.
		var h [2]byte
		var head []byte
		if d.codec == codec.H265 {
			h[0], h[1] = p[0]&0x81|(p[2]&0x3f)<<1, p[1]
			head, p = h[:2], p[3:]
		} else {
			h[0] = p[0]&0xe0 | p[1]&0x1f
			head, p = h[:1], p[2:]
		}
		add(head)
		d.cur.extend(p)
		d.inFU, d.cur.fuTS = true, ts
	case fuMiddle, fuEnd:
		if d.codec == codec.H265 {
			p = p[3:]
		} else {
			p = p[2:]
		}
		d.cur.extend(p)
		d.inFU = kind == fuMiddle
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
