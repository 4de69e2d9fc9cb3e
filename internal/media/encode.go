package media

/*
#include <libavutil/frame.h>
#include <string.h>

// copy_plane copies a tightly packed w*h plane into plane i of f, honouring
// the frame's line size.
static void copy_plane(AVFrame *f, int i, const uint8_t *src, int w, int h) {
	for (int y = 0; y < h; y++) {
		memcpy(f->data[i] + (size_t)y * f->linesize[i], src + (size_t)y * w, w);
	}
}
*/
import "C"

import (
	"errors"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/asticode/go-astiav"

	"github.com/council/cctv/internal/codec"
)

// EncodeConfig describes a synthetic clip.
type EncodeConfig struct {
	Codec         Codec
	Width, Height int // even, at least 64x64
	FPS           int // frames per second
	GOP           int // frames per closed GOP; every GOP starts with an IDR/IRAP frame
	Bitrate       int // target bits per second
	// Still is how many frames at the start of the clip show the first
	// picture unchanged (a still scene, then motion); default 0. A clip
	// with a still scene is encoded at constant quality (capped at
	// Bitrate), not constant bitrate, as variable-bitrate cameras do.
	Still int
}

// AccessUnit is one encoded frame.
type AccessUnit struct {
	// NALUs are the frame's NAL units without start codes, in decoding
	// order. Keyframes carry their parameter sets (SPS/PPS, and VPS for
	// H.265) in front of the slices.
	NALUs [][]byte
	// Key is true for IDR (H.264) or IRAP (H.265) frames.
	Key bool
	// PTS is the frame index (0, 1, 2…). There are no B-frames, so decoding
	// order is presentation order.
	PTS int64
}

// EncodeClip encodes n frames of a moving test picture with the frame index
// drawn in large digits, using libx264 or libx265: no B-frames, closed GOPs
// of cfg.GOP frames, parameter sets repeated in-band before every keyframe.
func EncodeClip(cfg EncodeConfig, n int) ([]AccessUnit, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("encode clip: %w", err)
	}
	if n <= 0 {
		return nil, fmt.Errorf("encode clip: frame count %d must be positive", n)
	}
	enc, err := newEncoder(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode clip: %w", err)
	}
	defer enc.free()

	aus := make([]AccessUnit, 0, n)
	pic := newTestPicture(cfg.Width, cfg.Height)
	for i := range n {
		if i == 0 || i >= cfg.Still {
			pic.draw(i)
		}
		if err := enc.send(pic, int64(i)); err != nil {
			return nil, fmt.Errorf("encode clip: frame %d: %w", i, err)
		}
		if aus, err = enc.receive(aus); err != nil {
			return nil, fmt.Errorf("encode clip: frame %d: %w", i, err)
		}
	}
	if err := enc.cc.SendFrame(nil); err != nil {
		return nil, fmt.Errorf("encode clip: drain: %w", err)
	}
	if aus, err = enc.receive(aus); err != nil {
		return nil, fmt.Errorf("encode clip: drain: %w", err)
	}
	if len(aus) != n {
		return nil, fmt.Errorf("encode clip: encoder returned %d frames for %d", len(aus), n)
	}
	return aus, nil
}

func (cfg EncodeConfig) validate() error {
	switch {
	case cfg.Codec != H264 && cfg.Codec != H265:
		return fmt.Errorf("unsupported codec %v", cfg.Codec)
	case cfg.Width < 64 || cfg.Height < 64 || cfg.Width%2 != 0 || cfg.Height%2 != 0:
		return fmt.Errorf("size %dx%d must be even and at least 64x64", cfg.Width, cfg.Height)
	case cfg.Still < 0:
		return fmt.Errorf("still frames %d must not be negative", cfg.Still)
	case cfg.FPS <= 0 || cfg.GOP <= 0 || cfg.Bitrate <= 0:
		return fmt.Errorf("fps %d, gop %d and bitrate %d must be positive", cfg.FPS, cfg.GOP, cfg.Bitrate)
	}
	return nil
}

type encoder struct {
	cc    *astiav.CodecContext
	frame *astiav.Frame
	pkt   *astiav.Packet
}

func newEncoder(cfg EncodeConfig) (_ *encoder, err error) {
	name := "libx264"
	if cfg.Codec == H265 {
		name = "libx265"
	}
	codec := astiav.FindEncoderByName(name)
	if codec == nil {
		return nil, fmt.Errorf("find encoder %s: not available in this FFmpeg build", name)
	}
	e := &encoder{}
	defer func() {
		if err != nil {
			e.free()
		}
	}()
	if e.cc = astiav.AllocCodecContext(codec); e.cc == nil {
		return nil, fmt.Errorf("alloc %s context: out of memory", name)
	}
	e.cc.SetWidth(cfg.Width)
	e.cc.SetHeight(cfg.Height)
	e.cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	e.cc.SetTimeBase(astiav.NewRational(1, cfg.FPS))
	e.cc.SetFramerate(astiav.NewRational(cfg.FPS, 1))
	e.cc.SetGopSize(cfg.GOP)
	if cfg.Still == 0 {
		e.cc.SetBitRate(int64(cfg.Bitrate))
	}

	gop := strconv.Itoa(cfg.GOP)
	kbps := strconv.Itoa(max(cfg.Bitrate/1000, 1))
	common := "keyint=" + gop + ":min-keyint=" + gop + ":scenecut=0:bframes=0:open-gop=0:repeat-headers=1" +
		":vbv-maxrate=" + kbps + ":vbv-bufsize=" + kbps
	if cfg.Still > 0 {
		// Constant quality, as a camera with variable bitrate: a still
		// scene then costs next to nothing, motion costs up to Bitrate.
		common += ":crf=26"
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	set := map[string]string{"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
	if cfg.Codec == H264 {
		set["x264-params"] = common
	} else {
		// x265 logs to stderr on its own; silence it.
		set["x265-params"] = common + ":log-level=none:info=0"
	}
	for k, v := range set {
		if err := opts.Set(k, v, 0); err != nil {
			return nil, fmt.Errorf("set %s option %s: %w", name, k, err)
		}
	}
	if err := e.cc.Open(codec, opts); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if e.frame = astiav.AllocFrame(); e.frame == nil {
		return nil, errors.New("alloc frame: out of memory")
	}
	if e.pkt = astiav.AllocPacket(); e.pkt == nil {
		return nil, errors.New("alloc packet: out of memory")
	}
	return e, nil
}

func (e *encoder) free() {
	if e.pkt != nil {
		e.pkt.Free()
	}
	if e.frame != nil {
		e.frame.Free()
	}
	if e.cc != nil {
		e.cc.Free()
	}
}

// send hands one picture to the encoder in a freshly allocated frame buffer
// (the encoder may still reference the previous one).
func (e *encoder) send(p *testPicture, pts int64) error {
	f := e.frame
	f.Unref()
	f.SetWidth(p.w)
	f.SetHeight(p.h)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := f.AllocBuffer(0); err != nil {
		return fmt.Errorf("alloc frame buffer: %w", err)
	}
	cf := (*C.AVFrame)(f.UnsafePointer())
	C.copy_plane(cf, 0, (*C.uint8_t)(unsafe.Pointer(&p.y[0])), C.int(p.w), C.int(p.h))
	C.copy_plane(cf, 1, (*C.uint8_t)(unsafe.Pointer(&p.u[0])), C.int(p.w/2), C.int(p.h/2))
	C.copy_plane(cf, 2, (*C.uint8_t)(unsafe.Pointer(&p.v[0])), C.int(p.w/2), C.int(p.h/2))
	f.SetPts(pts)
	if err := e.cc.SendFrame(f); err != nil {
		return fmt.Errorf("send frame: %w", err)
	}
	return nil
}

// receive appends every packet the encoder has ready.
func (e *encoder) receive(aus []AccessUnit) ([]AccessUnit, error) {
	for {
		if err := e.cc.ReceivePacket(e.pkt); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return aus, nil
			}
			return aus, fmt.Errorf("receive packet: %w", err)
		}
		data := e.pkt.Data() // a Go copy
		aus = append(aus, AccessUnit{
			NALUs: SplitAnnexB(data),
			Key:   e.pkt.Flags().Has(astiav.PacketFlagKey),
			PTS:   e.pkt.Pts(),
		})
		e.pkt.Unref()
	}
}

// SplitAnnexB splits an Annex-B byte stream into NAL units (see
// codec.SplitAnnexB).
func SplitAnnexB(b []byte) [][]byte { return codec.SplitAnnexB(b) }

// JoinAnnexB appends NAL units with 4-byte start codes (see
// codec.JoinAnnexB).
func JoinAnnexB(dst []byte, nalus [][]byte) []byte { return codec.JoinAnnexB(dst, nalus) }
