package synthcam

import (
	"errors"
	"fmt"
	"sync"

	"github.com/council/cctv/internal/media"
)

// clip is an encoded access-unit loop shared by every camera with the same
// encoding parameters.
type clip struct {
	aus           []media.AccessUnit
	vps, sps, pps []byte // from the first keyframe, for the SDP
}

type clipKey struct {
	cfg    media.EncodeConfig
	frames int
}

// clips caches encoded clips for the life of the process, so that tests
// and benchmarks that start many servers encode each configuration once.
var clips sync.Map // clipKey -> func() (*clip, error)

func loadClip(cfg media.EncodeConfig, frames int) (*clip, error) {
	f, _ := clips.LoadOrStore(clipKey{cfg, frames}, sync.OnceValues(func() (*clip, error) {
		return encodeClip(cfg, frames)
	}))
	c, err := f.(func() (*clip, error))()
	if err != nil {
		// Let a later call retry instead of caching the failure forever.
		clips.Delete(clipKey{cfg, frames})
	}
	return c, err
}

func encodeClip(cfg media.EncodeConfig, frames int) (*clip, error) {
	aus, err := media.EncodeClip(cfg, frames)
	if err != nil {
		return nil, err
	}
	c := &clip{aus: aus}
	if len(aus) == 0 || !aus[0].Key {
		return nil, errors.New("encoded clip does not start with a keyframe")
	}
	for _, n := range aus[0].NALUs {
		switch nalType(cfg.Codec, n) {
		case h264SPS, h265SPS + 0x100:
			c.sps = n
		case h264PPS, h265PPS + 0x100:
			c.pps = n
		case h265VPS + 0x100:
			c.vps = n
		}
	}
	if c.sps == nil || c.pps == nil || (cfg.Codec == media.H265 && c.vps == nil) {
		return nil, fmt.Errorf("first %v keyframe lacks parameter sets", cfg.Codec)
	}
	return c, nil
}

// NAL unit types. H.265 types are offset by 0x100 in nalType so that the two
// codecs never collide in one switch.
const (
	h264SEI = 6
	h264SPS = 7
	h264PPS = 8

	h265VPS       = 32
	h265SPS       = 33
	h265PPS       = 34
	h265PrefixSEI = 39
)

func nalType(c media.Codec, n []byte) int {
	if len(n) == 0 {
		return -1
	}
	if c == media.H265 {
		return 0x100 + int(n[0]>>1)&0x3f
	}
	return int(n[0] & 0x1f)
}

// isVCL reports whether n carries slice data.
func isVCL(c media.Codec, n []byte) bool {
	t := nalType(c, n)
	if c == media.H265 {
		return t >= 0x100 && t < 0x100+32
	}
	return t >= 1 && t <= 5
}
