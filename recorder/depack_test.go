package recorder

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// Small H.264 NAL units: enough for the depacketizer, which never decodes
// pictures. The SPS is a real baseline 320x240 one so the DTS extractor can
// follow the stream.
var (
	tSPS = []byte{0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xe8, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc5, 0x0a, 0xa8}
	tPPS = []byte{0x68, 0xce, 0x0f, 0xc8}
	tIDR = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	tP   = []byte{0x41, 0x9a, 0x02, 0x03}
)

func stapA(nalus ...[]byte) []byte {
	out := []byte{24}
	for _, n := range nalus {
		out = append(out, byte(len(n)>>8), byte(len(n)))
		out = append(out, n...)
	}
	return out
}

type pktSpec struct {
	payload []byte
	ts      uint32
	marker  bool
}

// feed pushes packets with consecutive sequence numbers (skipping those in
// lost) and returns the access units delivered.
func feed(t *testing.T, d *depacketizer, pkts []pktSpec, lost map[int]bool) [][]byte {
	t.Helper()
	var aus [][]byte
	for i, p := range pkts {
		if lost[i] {
			continue
		}
		au, _, _, _, err := d.push(nil, &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(1000 + i), Timestamp: p.ts, Marker: p.marker},
			Payload: p.payload,
		})
		switch {
		case err == nil:
			aus = append(aus, au)
		case !errors.Is(err, errNotReady) && !errors.Is(err, errDamaged):
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	return aus
}

func newTestDepacketizer(t *testing.T) *depacketizer {
	t.Helper()
	d, err := newDepacketizer(&format.H264{PayloadTyp: 96, PacketizationMode: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func annexB(nalus ...[]byte) []byte {
	var out []byte
	for _, n := range nalus {
		out = append(out, 0, 0, 0, 1)
		out = append(out, n...)
	}
	return out
}

// Parameter sets in a STAP-A (or in packets of their own) that carries the
// marker bit belong to the picture that follows: one access unit, not two.
func TestDepacketizer_ParameterSetsWithMarker_OneAccessUnit(t *testing.T) {
	for _, tc := range []struct {
		name string
		pkts []pktSpec
	}{
		{"stap-a", []pktSpec{{stapA(tSPS, tPPS), 0, true}, {tIDR, 0, true}, {tP, 3600, true}}},
		{"own-packets", []pktSpec{{tSPS, 0, true}, {tPPS, 0, false}, {tIDR, 0, true}, {tP, 3600, true}}},
		{"no-marker-camera", []pktSpec{{tSPS, 0, false}, {tPPS, 0, false}, {tIDR, 0, false}, {tP, 3600, false}, {tP, 7200, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDepacketizer(t)
			aus := feed(t, d, tc.pkts, nil)
			if len(aus) != 2 {
				t.Fatalf("%d access units, want 2", len(aus))
			}
			if want := annexB(tSPS, tPPS, tIDR); !bytes.Equal(aus[0], want) {
				t.Errorf("keyframe unit % x, want % x", aus[0], want)
			}
			if want := annexB(tP); !bytes.Equal(aus[1], want) {
				t.Errorf("second unit % x, want % x", aus[1], want)
			}
		})
	}
}

// A lost packet drops its access unit and what follows until the next
// keyframe, counts both, and the stream goes on.
func TestDepacketizer_Loss_DropsUntilKeyframe(t *testing.T) {
	d := newTestDepacketizer(t)
	pkts := []pktSpec{
		{stapA(tSPS, tPPS), 0, false}, {tIDR, 0, true}, // 0,1
		{tP, 3600, true}, // 2: lost
		{tP, 7200, true}, // 3: depends on the lost one
		{tP, 10800, true},
		{stapA(tSPS, tPPS), 14400, false}, {tIDR, 14400, true}, // 5,6: the stream resumes
		{tP, 18000, true},
	}
	aus := feed(t, d, pkts, map[int]bool{2: true})
	if len(aus) != 3 {
		t.Fatalf("%d access units, want the first keyframe, the second and the P-frame after it", len(aus))
	}
	lost, dropped := d.takeCounts()
	if lost != 1 || dropped != 3 {
		t.Errorf("lost %d packets, dropped %d units; want 1 and 3 (the damaged one and its two dependants)", lost, dropped)
	}
}

// A lost marker packet: the picture it ended is dropped, not glued to the
// next one.
func TestDepacketizer_LostMarker_PictureDropped(t *testing.T) {
	d := newTestDepacketizer(t)
	fuStart := []byte{0x7c, 0x81, 0x9a} // FU-A, start, non-IDR slice
	fuEnd := []byte{0x7c, 0x41, 0x02}   // FU-A, end
	pkts := []pktSpec{
		{stapA(tSPS, tPPS), 0, false}, {tIDR, 0, true},
		{fuStart, 3600, false}, {fuEnd, 3600, true}, // 3: marker lost
		{tP, 7200, true},
		{stapA(tSPS, tPPS), 10800, false}, {tIDR, 10800, true},
	}
	aus := feed(t, d, pkts, map[int]bool{3: true})
	if len(aus) != 2 {
		t.Fatalf("%d access units, want the two keyframes", len(aus))
	}
	if want := annexB(tSPS, tPPS, tIDR); !bytes.Equal(aus[1], want) {
		t.Errorf("second keyframe % x, want % x", aus[1], want)
	}
}
