// Package tstest builds small, structurally valid MPEG transport streams by
// hand for tests: a PAT, a PMT and one PES per frame carrying Annex B NAL units
// with a PTS. The pictures are not decodable; the transport structure (sync
// bytes, PIDs, continuity counters, CRCs, random-access flags, PTS) is real.
package tstest

import "encoding/binary"

// Options configures Build. Zero fields take the defaults shown.
type Options struct {
	Frames   int    // number of frames (PES packets); default 25
	FPS      int    // frames per second; default 25
	GOP      int    // keyframe interval in frames; default FPS
	Codec    string // "h264" (default) or "h265"
	StartPTS int64  // PTS of the first frame (90 kHz); default 126000
	// FrameBytes is the size of each frame's NAL payload; default 600, so a
	// frame spans several packets.
	FrameBytes int
}

const (
	pmtPID   = 0x1000
	videoPID = 0x100
)

// Build returns a transport stream described by o.
func Build(o Options) []byte {
	if o.Frames == 0 {
		o.Frames = 25
	}
	if o.FPS == 0 {
		o.FPS = 25
	}
	if o.GOP == 0 {
		o.GOP = o.FPS
	}
	if o.Codec == "" {
		o.Codec = "h264"
	}
	if o.StartPTS == 0 {
		o.StartPTS = 126000
	}
	if o.FrameBytes == 0 {
		o.FrameBytes = 600
	}
	w := &writer{cc: map[int]byte{}}
	w.psi(0, pat())
	w.psi(pmtPID, pmt(o.Codec))
	dur := int64(90000 / o.FPS)
	for i := 0; i < o.Frames; i++ {
		key := i%o.GOP == 0
		w.pes(pesPacket(o.StartPTS+int64(i)*dur, frame(o.Codec, key, o.FrameBytes, i)), key)
	}
	return w.out
}

type writer struct {
	out []byte
	cc  map[int]byte
}

func (w *writer) header(pid int, pusi bool, afc byte) []byte {
	p := make([]byte, 4, 188)
	p[0] = 0x47
	p[1] = byte(pid>>8) & 0x1f
	if pusi {
		p[1] |= 0x40
	}
	p[2] = byte(pid)
	p[3] = afc<<4 | w.cc[pid]&0x0f
	w.cc[pid]++
	return p
}

func (w *writer) psi(pid int, sec []byte) {
	p := w.header(pid, true, 1)
	p = append(p, 0) // pointer field
	p = append(p, sec...)
	for len(p) < 188 {
		p = append(p, 0xff)
	}
	w.out = append(w.out, p...)
}

// pes splits a PES packet into TS packets, padding the last with adaptation
// stuffing and flagging random access on the first when key is set.
func (w *writer) pes(data []byte, key bool) {
	first := true
	for len(data) > 0 {
		var af []byte
		if first && key {
			af = []byte{0x40} // flags: random_access_indicator
		}
		room := 184
		if af != nil {
			room -= 1 + len(af)
		}
		n := min(len(data), room)
		if n < room {
			// stuff: the adaptation field grows to fill the packet
			need := 184 - n // bytes for length byte + field
			if af == nil {
				af = []byte{}
				if need > 1 {
					af = append(af, 0x00)
				}
			}
			for 1+len(af) < need {
				af = append(af, 0xff)
			}
		}
		afc := byte(1)
		if af != nil {
			afc = 3
		}
		p := w.header(videoPID, first, afc)
		if af != nil {
			p = append(p, byte(len(af)))
			p = append(p, af...)
		}
		p = append(p, data[:n]...)
		data = data[n:]
		first = false
		w.out = append(w.out, p...)
	}
}

func pat() []byte {
	s := []byte{0x00, 0xb0, 0, 0x00, 0x01, 0xc1, 0x00, 0x00,
		0x00, 0x01, 0xe0 | pmtPID>>8, pmtPID & 0xff}
	return finish(s)
}

func pmt(codec string) []byte {
	st := byte(0x1b)
	if codec == "h265" {
		st = 0x24
	}
	s := []byte{0x02, 0xb0, 0, 0x00, 0x01, 0xc1, 0x00, 0x00,
		0xe0 | videoPID>>8, videoPID & 0xff, // PCR PID
		0xf0, 0x00, // program info length
		st, 0xe0 | videoPID>>8, videoPID & 0xff, 0xf0, 0x00}
	return finish(s)
}

// finish sets the section length and appends the CRC-32/MPEG-2.
func finish(s []byte) []byte {
	l := len(s) - 3 + 4
	s[1] = 0xb0 | byte(l>>8)
	s[2] = byte(l)
	return binary.BigEndian.AppendUint32(s, crc32mpeg(s))
}

func crc32mpeg(b []byte) uint32 {
	crc := uint32(0xffffffff)
	for _, c := range b {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04c11db7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func pesPacket(pts int64, es []byte) []byte {
	p := []byte{0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5,
		byte(0x21 | (pts>>29)&0x0e), byte(pts >> 22), byte(0x01 | (pts>>14)&0xfe),
		byte(pts >> 7), byte(0x01 | (pts<<1)&0xfe)}
	return append(p, es...)
}

func frame(codec string, key bool, size, i int) []byte {
	var b []byte
	nal := func(hdr ...byte) { b = append(b, 0, 0, 0, 1); b = append(b, hdr...) }
	if codec == "h265" {
		nal(35<<1, 1, 0x50) // AUD
		if key {
			nal(32<<1, 1, 0x0c) // VPS
			nal(33<<1, 1, 0x01) // SPS
			nal(34<<1, 1, 0xc1) // PPS
			nal(19<<1, 1, 0xaf) // IDR_W_RADL
		} else {
			nal(1<<1, 1, 0xd0) // TRAIL_R
		}
	} else {
		nal(0x09, 0xf0) // AUD
		if key {
			nal(0x67, 0x42, 0xc0, 0x0d) // SPS
			nal(0x68, 0xce, 0x3c, 0x80) // PPS
			nal(0x65, 0x88)             // IDR
		} else {
			nal(0x41, 0x9a)
		}
	}
	for len(b) < size {
		// filler that never forms a start code
		b = append(b, byte(0x80|(i+len(b))&0x7f))
	}
	return b
}
