package recorder

import (
	"encoding/binary"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// FuzzDepacketizer feeds arbitrary RTP payloads — random bytes, truncated
// and malformed NAL units, bogus fragmentation headers — through the H.264
// and H.265 depacketising path. It must never panic, and whatever access
// unit it returns must be Annex-B framed.
func FuzzDepacketizer(f *testing.F) {
	f.Add([]byte{0, 5, 0x67, 0x42, 0, 0x1e, 0xab, 0, 2, 0x68, 0xce, 0, 3, 0x65, 0x88, 0x84}) // SPS, PPS, IDR
	f.Add([]byte{0, 4, 0x7c, 0x85, 0x88, 0x84, 0, 3, 0x7c, 0x45, 0x99})                      // FU-A start and end
	f.Add([]byte{0, 7, 0x78, 0, 2, 0x67, 0x42, 0, 2, 0, 5})                                  // STAP-A with a truncated unit
	f.Add([]byte{0, 6, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0, 4, 0x62, 0x01, 0x93, 0xaf})    // H.265 VPS, FU
	f.Add([]byte{0, 3, 0x06, 0x05, 0x10, 0, 1, 0x00, 0, 0})                                  // SEI, zero-length
	f.Add([]byte{0xff, 0xff, 0x00})                                                          // length beyond the input
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, forma := range []format.Format{
			&format.H264{PayloadTyp: 96, PacketizationMode: 1},
			&format.H265{PayloadTyp: 96},
		} {
			d, err := newDepacketizer(forma)
			if err != nil {
				t.Fatal(err)
			}
			var buf []byte
			rest := data
			for seq := uint16(0); len(rest) >= 2; seq++ {
				n := int(binary.BigEndian.Uint16(rest))
				rest = rest[2:]
				if n > len(rest) {
					n = len(rest)
				}
				pkt := &rtp.Packet{
					Header: rtp.Header{
						Version: 2, PayloadType: 96, SequenceNumber: seq,
						Timestamp: uint32(seq/2) * 3600, Marker: seq%2 == 1,
					},
					Payload: rest[:n],
				}
				rest = rest[n:]
				au, _, _, _, err := d.push(buf[:0], pkt)
				if err == nil && (len(au) < 4 || au[0] != 0 || au[1] != 0 || au[2] != 0 || au[3] != 1) {
					t.Fatalf("access unit not Annex-B framed: % x", au[:min(len(au), 8)])
				}
				buf = au
			}
		}
	})
}
