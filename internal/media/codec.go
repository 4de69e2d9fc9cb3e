package media

import "github.com/council/cctv/internal/codec"

// Codec is a video codec the recorder understands (codec.Codec).
type Codec = codec.Codec

// Codecs the recorder supports.
const (
	// H264 is ITU-T H.264 / MPEG-4 AVC.
	H264 = codec.H264
	// H265 is ITU-T H.265 / HEVC.
	H265 = codec.H265
)
