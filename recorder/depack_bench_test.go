//go:build cgo

package recorder

import (
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/council/cctv/internal/media"
)

// BenchmarkDepacketizer_Push measures the reader's per-packet work on real
// encoded video: RTP packets of a 1080p H.264 clip through depacketising,
// keyframe detection, DTS extraction and Annex-B assembly into a reused
// buffer. allocs/op is per RTP packet.
func BenchmarkDepacketizer_Push(b *testing.B) {
	clip, err := media.EncodeClip(media.EncodeConfig{Codec: media.H264, Width: 1920, Height: 1080, FPS: 25, GOP: 50, Bitrate: 4_000_000}, 50)
	if err != nil {
		b.Fatal(err)
	}
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	enc, err := forma.CreateEncoder()
	if err != nil {
		b.Fatal(err)
	}
	type stamped struct {
		pkt *rtp.Packet
		pts int64
	}
	var pkts []stamped
	var bytes int64
	for i, au := range clip {
		ps, err := enc.Encode(au.NALUs)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range ps {
			p.Timestamp = uint32(i * 3600)
			pkts = append(pkts, stamped{p, int64(i * 3600)})
			bytes += int64(len(p.Payload))
		}
	}
	d, err := newDepacketizer(forma)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1<<20)
	b.SetBytes(bytes / int64(len(pkts)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := pkts[i%len(pkts)]
		// Keep timestamps increasing across loops of the clip.
		loop := int64(i / len(pkts))
		p.pkt.Timestamp = uint32(p.pts + loop*int64(len(clip))*3600)
		p.pkt.SequenceNumber = uint16(i)
		au, _, _, _, err := d.push(buf[:0], p.pkt)
		if err == nil {
			buf = au
		}
	}
}
