// Package codec names the video codecs the recorder understands and splits
// and joins Annex-B byte streams. It is pure Go, so the recording path
// builds without cgo; internal/media re-exports it for FFmpeg's side.
package codec

import "fmt"

// Codec is a video codec the recorder understands.
type Codec int

// Codecs the recorder supports.
const (
	// H264 is ITU-T H.264 / MPEG-4 AVC.
	H264 Codec = iota + 1
	// H265 is ITU-T H.265 / HEVC.
	H265
)

// String returns "h264" or "h265".
func (c Codec) String() string {
	switch c {
	case H264:
		return "h264"
	case H265:
		return "h265"
	default:
		return fmt.Sprintf("codec(%d)", int(c))
	}
}
