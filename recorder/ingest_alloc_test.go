package recorder

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/store"
)

// gopPackets builds one GOP of a 4 Mbit/s-like H.264 stream as RTP
// packets the way a camera sends them: SPS and PPS in a STAP-A, then every
// picture in FU-A fragments of 1400 bytes, the last with the marker bit.
func gopPackets(frames int, keySize, frameSize int) [][]rtp.Packet {
	nal := func(head []byte, size int) []byte {
		n := append([]byte(nil), head...)
		for len(n) < size {
			n = append(n, 0xa5) // no start-code emulation
		}
		return n
	}
	fuA := func(n []byte) [][]byte {
		var out [][]byte
		body := n[1:]
		for i := 0; i < len(body); i += 1400 {
			h := n[0]&0x1f | 0 // type in the FU header
			if i == 0 {
				h |= 0x80
			}
			if i+1400 >= len(body) {
				h |= 0x40
			}
			out = append(out, append([]byte{n[0]&0xe0 | 28, h}, body[i:min(i+1400, len(body))]...))
		}
		return out
	}
	var gop [][]rtp.Packet
	for i := range frames {
		var payloads [][]byte
		if i == 0 {
			payloads = append(payloads, stapA(tSPS, tPPS))
			payloads = append(payloads, fuA(nal(tIDR, keySize))...)
		} else {
			payloads = append(payloads, fuA(nal(tP, frameSize))...)
		}
		var pkts []rtp.Packet
		for j, p := range payloads {
			pkts = append(pkts, rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: 96, Marker: j == len(payloads)-1},
				Payload: p,
			})
		}
		gop = append(gop, pkts)
	}
	return gop
}

// ingest is the recording path of one camera without the network: RTP
// packets through the depacketizer, frames through the pool, into the
// segmenter and the MPEG-TS writer, onto a real store, with the session's
// sealer fsyncing and sealing beside it.
type ingest struct {
	dp    *depacketizer
	seg   *segmenter
	pool  framePool
	gop   [][]rtp.Packet
	seq   uint16
	frame int64
	t0    time.Time
}

func newIngest(tb testing.TB) *ingest {
	dir := filepath.Join(tb.TempDir(), "data")
	key, err := boxkey.Init(filepath.Join(tb.TempDir(), "key"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.Init(dir, "test-box"); err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(dir, store.Options{BoxID: "test-box", Signer: key})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	dp, err := newDepacketizer(&format.H264{PayloadTyp: 96, PacketizationMode: 1})
	if err != nil {
		tb.Fatal(err)
	}
	in := &ingest{dp: dp, gop: gopPackets(50, 60_000, 18_000), t0: time.Now()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in.seg = &segmenter{store: st, camera: "alloc", codec: dp.codec, target: time.Hour,
		log: log, untrusts: func(time.Time) bool { return false }, sealer: newSealer(log)}
	in.pool.init(8)
	tb.Cleanup(func() {
		if _, err := in.seg.close(time.Time{}); err != nil {
			tb.Error(err)
		}
		if err := in.seg.sealer.close(); err != nil {
			tb.Error(err)
		}
	})
	return in
}

// gopOnce feeds one GOP (two seconds at 25 fps) and syncs once, as the
// session's writer does every sync_interval.
func (in *ingest) gopOnce(tb testing.TB) {
	for _, pkts := range in.gop {
		ts := uint32(in.frame * 3600)
		for i := range pkts {
			p := &pkts[i]
			p.SequenceNumber, p.Timestamp = in.seq, ts
			in.seq++
			f := in.pool.get()
			data, pts, dts, key, err := in.dp.push(f.data[:0], p)
			if err != nil {
				f.data = data[:0]
				in.pool.put(f)
				continue
			}
			f.data, f.pts, f.dts, f.key = data, pts, dts, key
			f.arrival = in.t0.Add(time.Duration(in.frame) * 40 * time.Millisecond)
			if _, err := in.seg.write(f); err != nil {
				tb.Fatal(err)
			}
			f.data = f.data[:0]
			in.pool.put(f)
		}
		in.frame++
	}
	if err := in.seg.sync(); err != nil {
		tb.Fatal(err)
	}
}

// TestIngest_SteadyState_NoAlloc: once a segment is open, RTP packets to
// bytes on disk allocate nothing (issue 14: garbage collection was a third
// of the recorder's CPU).
func TestIngest_SteadyState_NoAlloc(t *testing.T) {
	in := newIngest(t)
	for range 3 { // preroll, the first segment, buffers grown
		in.gopOnce(t)
	}
	in.settle(t)
	if !in.seg.opened() {
		t.Fatal("no segment open after three GOPs")
	}
	before := in.seg.frames
	allocs := testing.AllocsPerRun(5, func() { in.gopOnce(t) })
	if in.seg.frames-before != 6*50 {
		t.Fatalf("%d frames written in six GOPs, want 300", in.seg.frames-before)
	}
	if allocs != 0 {
		t.Errorf("%.1f allocations per GOP (50 frames, %d packets), want 0", allocs, in.packets())
	}
}

// settle waits until the open segment's file, created off the writer,
// exists and holds the frames written so far.
func (in *ingest) settle(tb testing.TB) {
	if err := in.seg.settle(true); err != nil {
		tb.Fatal(err)
	}
}

func (in *ingest) packets() int {
	n := 0
	for _, f := range in.gop {
		n += len(f)
	}
	return n
}

// BenchmarkIngest_GOP: one GOP (2 s of a 1080p25 camera at about 4 Mbit/s)
// from RTP packets to the segment file; divide ns/op by 2 s for the
// fraction of a core per camera spent on the path.
func BenchmarkIngest_GOP(b *testing.B) {
	in := newIngest(b)
	for range 3 {
		in.gopOnce(b)
	}
	in.settle(b)
	var bytes int64
	for _, f := range in.gop {
		for _, p := range f {
			bytes += int64(len(p.Payload))
		}
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		in.gopOnce(b)
	}
}
