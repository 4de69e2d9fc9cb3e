// Package tsscan scans MPEG transport streams without decoding them, for crash
// recovery: how much of a file is whole 188-byte packets, how many video
// frames it holds, and the presentation-time span of those frames.
//
// Scan reads only the transport and PES headers it needs and never panics on
// malformed input; it stops at the first packet that is short or lacks the
// 0x47 sync byte, which is what a write torn by a crash looks like.
package tsscan

import (
	"errors"
	"fmt"
	"io"
)

// PacketSize is the size of one transport-stream packet.
const PacketSize = 188

// Stream types of the video codecs the recorder writes.
const (
	StreamTypeH264 = 0x1b
	StreamTypeH265 = 0x24
)

// Result describes a scanned stream.
type Result struct {
	// WholeBytes is the length of the prefix made of whole, sync-byte-aligned
	// packets; truncating the file to it removes a torn tail.
	WholeBytes int64
	// Frames counts PES starts (payload_unit_start_indicator) on the video PID
	// announced by the PAT/PMT, within WholeBytes.
	Frames int64
	// FirstPTS is the PTS of the first video PES and LastPTS the greatest PTS
	// seen, both in 90 kHz units; -1 if there is none. LastPTS is unwrapped
	// across the 33-bit rollover, so LastPTS-FirstPTS is the span.
	FirstPTS, LastPTS int64
	HasPTS            bool
	// FirstKey reports that the first video PES starts a random-access point:
	// its adaptation field has random_access_indicator set, or its first NAL
	// unit after any access-unit delimiter is a parameter set or IDR/IRAP.
	FirstKey bool
	// VideoPID is the PID of the video stream (-1 if none was found) and
	// StreamType its PMT stream type (StreamTypeH264 or StreamTypeH265).
	VideoPID   int
	StreamType int
}

// Codec names the video codec ("h264", "h265") or returns "" if none was found.
func (r Result) Codec() string {
	switch r.StreamType {
	case StreamTypeH264:
		return "h264"
	case StreamTypeH265:
		return "h265"
	}
	return ""
}

// FrameDuration estimates one frame's duration in 90 kHz units from the PTS
// span, or returns 0 with fewer than two frames.
func (r Result) FrameDuration() int64 {
	if !r.HasPTS || r.Frames < 2 || r.LastPTS <= r.FirstPTS {
		return 0
	}
	return (r.LastPTS - r.FirstPTS) / (r.Frames - 1)
}

const chunkPackets = 512

// Scan reads size bytes of r from offset 0. It returns an error only when r
// fails to read; malformed content just ends the scan early.
func Scan(r io.ReaderAt, size int64) (Result, error) {
	res, _, err := scan(r, size)
	return res, err
}

// ScanWholeFrames is Scan cut back to the frames that are provably whole.
// The recorder's video PES packets carry no length (PES_packet_length 0), so
// a frame is known to be complete only when the next one starts: the result
// describes the prefix of the file that ends where the last video PES
// starts, and drops that last frame, which a crash may have torn. A file
// with no video PES is described as Scan does.
func ScanWholeFrames(r io.ReaderAt, size int64) (Result, error) {
	res, cut, err := scan(r, size)
	if err != nil || res.Frames == 0 {
		return res, err
	}
	return cut, nil
}

func scan(r io.ReaderAt, size int64) (Result, Result, error) {
	res := Result{FirstPTS: -1, LastPTS: -1, VideoPID: -1}
	sc := scanner{res: &res, pmtPIDs: map[int]bool{}}
	res, err := sc.run(r, size)
	return res, sc.cut, err
}

func (sc *scanner) run(r io.ReaderAt, size int64) (Result, error) {
	res := sc.res
	buf := make([]byte, PacketSize*chunkPackets)
	var off int64
	for off < size {
		want := int64(len(buf))
		if size-off < want {
			want = size - off
		}
		n, err := r.ReadAt(buf[:want], off)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == want) {
			if !errors.Is(err, io.EOF) {
				return *res, fmt.Errorf("scan ts at offset %d: %w", off, err)
			}
			// Shorter than size says: scan what there is.
			want = int64(n)
			size = off + want
		}
		b := buf[:want]
		for len(b) >= PacketSize {
			if b[0] != 0x47 {
				return *res, nil
			}
			sc.packet(b[:PacketSize])
			res.WholeBytes += PacketSize
			b = b[PacketSize:]
		}
		if len(b) > 0 {
			return *res, nil // short final packet: a torn write
		}
		off += want
	}
	return *res, nil
}

type scanner struct {
	res     *Result
	cut     Result // the result as it stood just before the last video PES started
	pmtPIDs map[int]bool
	lastRaw int64 // last PTS as read (33 bits), for unwrapping
	lastExt int64 // its unwrapped value
}

func (sc *scanner) packet(p []byte) {
	pid := int(p[1]&0x1f)<<8 | int(p[2])
	pusi := p[1]&0x40 != 0
	afc := (p[3] >> 4) & 3
	payload := 4
	rai := false
	if afc&2 != 0 {
		alen := int(p[4])
		if alen > 0 && 5 < len(p) {
			rai = p[5]&0x40 != 0
		}
		payload = 5 + alen
	}
	if afc&1 == 0 || payload >= len(p) {
		return // no payload
	}
	data := p[payload:]
	switch {
	case pid == 0 && pusi:
		sc.pat(data)
	case sc.pmtPIDs[pid] && pusi && sc.res.VideoPID < 0:
		sc.pmt(data)
	case pid == sc.res.VideoPID && pusi:
		sc.cut = *sc.res // WholeBytes is this packet's offset
		sc.pes(data, rai)
	}
}

// section returns the section body (after the 3-byte header, without CRC) of
// the PSI section starting in data, which begins with the pointer field.
func section(data []byte, tableID byte) []byte {
	if len(data) < 1 {
		return nil
	}
	ptr := int(data[0])
	data = data[1:]
	if ptr >= len(data) {
		return nil
	}
	data = data[ptr:]
	if len(data) < 3 || data[0] != tableID {
		return nil
	}
	slen := int(data[1]&0x0f)<<8 | int(data[2])
	end := 3 + slen
	if end > len(data) {
		end = len(data) // section continues in a later packet: use what is here
	}
	if end-4 < 8 {
		return nil
	}
	return data[3 : end-4]
}

func (sc *scanner) pat(data []byte) {
	s := section(data, 0x00)
	if s == nil {
		return
	}
	for e := s[5:]; len(e) >= 4; e = e[4:] {
		prog := int(e[0])<<8 | int(e[1])
		if prog == 0 {
			continue // network PID
		}
		sc.pmtPIDs[int(e[2]&0x1f)<<8|int(e[3])] = true
	}
}

func (sc *scanner) pmt(data []byte) {
	s := section(data, 0x02)
	if s == nil || len(s) < 9 {
		return
	}
	pil := int(s[7]&0x0f)<<8 | int(s[8])
	if 9+pil > len(s) {
		return
	}
	for e := s[9+pil:]; len(e) >= 5; {
		st := int(e[0])
		epid := int(e[1]&0x1f)<<8 | int(e[2])
		esil := int(e[3]&0x0f)<<8 | int(e[4])
		if st == StreamTypeH264 || st == StreamTypeH265 {
			sc.res.VideoPID = epid
			sc.res.StreamType = st
			return
		}
		if 5+esil > len(e) {
			return
		}
		e = e[5+esil:]
	}
}

func (sc *scanner) pes(data []byte, rai bool) {
	res := sc.res
	first := res.Frames == 0
	res.Frames++
	if len(data) < 9 || data[0] != 0 || data[1] != 0 || data[2] != 1 {
		if first {
			res.FirstKey = rai
		}
		return
	}
	hlen := int(data[8])
	if data[7]&0x80 != 0 && len(data) >= 14 {
		sc.pts(readPTS(data[9:14]))
	}
	if first {
		es := []byte(nil)
		if 9+hlen <= len(data) {
			es = data[9+hlen:]
		}
		res.FirstKey = rai || keyNAL(es, res.StreamType == StreamTypeH265)
	}
}

func readPTS(b []byte) int64 {
	return int64(b[0]>>1&0x07)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 |
		int64(b[3])<<7 | int64(b[4]>>1)
}

const ptsWrap = int64(1) << 33

func (sc *scanner) pts(raw int64) {
	res := sc.res
	if !res.HasPTS {
		res.HasPTS = true
		res.FirstPTS, res.LastPTS = raw, raw
		sc.lastRaw, sc.lastExt = raw, raw
		return
	}
	d := (raw - sc.lastRaw) & (ptsWrap - 1)
	if d >= ptsWrap/2 {
		d -= ptsWrap
	}
	sc.lastRaw = raw
	sc.lastExt += d
	if sc.lastExt > res.LastPTS {
		res.LastPTS = sc.lastExt
	}
}

// keyNAL reports whether the first NAL unit in es, skipping access-unit
// delimiters, is a parameter set or an IDR/IRAP picture.
func keyNAL(es []byte, hevc bool) bool {
	for i := 0; i+3 < len(es); i++ {
		if es[i] != 0 || es[i+1] != 0 || es[i+2] != 1 {
			continue
		}
		h := es[i+3]
		i += 3
		if hevc {
			switch t := h >> 1 & 0x3f; {
			case t == 35: // AUD
				continue
			case t == 32 || t == 33 || t == 34: // VPS, SPS, PPS
				return true
			default:
				return t >= 16 && t <= 21 // IRAP: BLA, IDR, CRA
			}
		}
		switch h & 0x1f {
		case 9: // AUD
			continue
		case 5, 7, 8: // IDR, SPS, PPS
			return true
		default:
			return false
		}
	}
	return false
}
