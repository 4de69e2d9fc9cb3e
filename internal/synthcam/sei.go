package synthcam

import (
	"encoding/binary"

	"github.com/council/cctv/internal/media"
)

// SEIUUID identifies the user_data_unregistered SEI messages that cameras
// with CameraConfig.SEI inject into every frame.
var SEIUUID = [16]byte{
	0x63, 0x63, 0x74, 0x76, 0x2d, 0x73, 0x79, 0x6e, // "cctv-syn"
	0x74, 0x68, 0x63, 0x61, 0x6d, 0x2d, 0x76, 0x31, // "thcam-v1"
}

// SEIPayload returns the bytes of the SEI NAL unit injected for frame (the
// camera's frame counter, starting at 0) that follow the NAL unit header:
// payload type 5 (user_data_unregistered), size 24, SEIUUID, the frame
// counter as 8 big-endian bytes and the RBSP trailing bits, with emulation
// prevention applied. They are the same for H.264 and H.265 (only the NAL
// header, 1 or 2 bytes, differs), so tests can search recordings for them.
func SEIPayload(frame uint64) []byte {
	return appendSEIPayload(nil, frame)
}

// SEINALU returns the complete SEI NAL unit (without start code) injected
// for frame by a camera of the given codec.
func SEINALU(codec media.Codec, frame uint64) []byte {
	return appendSEINALU(nil, codec, frame)
}

func appendSEINALU(dst []byte, codec media.Codec, frame uint64) []byte {
	if codec == media.H265 {
		dst = append(dst, h265PrefixSEI<<1, 1) // layer 0, temporal id 0 (+1)
	} else {
		dst = append(dst, h264SEI) // nal_ref_idc 0
	}
	return appendSEIPayload(dst, frame)
}

func appendSEIPayload(dst []byte, frame uint64) []byte {
	var rbsp [2 + 16 + 8 + 1]byte
	rbsp[0] = 5  // payload type: user_data_unregistered
	rbsp[1] = 24 // payload size
	copy(rbsp[2:], SEIUUID[:])
	binary.BigEndian.PutUint64(rbsp[18:], frame)
	rbsp[26] = 0x80 // rbsp_trailing_bits
	// Emulation prevention: no 00 00 0x (x <= 3) inside a NAL unit.
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}
