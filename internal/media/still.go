package media

/*
#include <libavutil/frame.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/asticode/go-astiav"
)

// FrameAt decodes the picture on screen at instant at: the last frame of
// src whose wall time is at or before at. It returns the picture converted
// to RGB (BT.601 or BT.709, limited or full range, as the stream signals;
// BT.709 is assumed for unsignalled pictures taller than 576 lines) and the
// frame's wall time. It returns ErrNoFrames if src has no frame at or
// before at.
func FrameAt(ctx context.Context, src Source, at time.Time) (*image.RGBA, time.Time, error) {
	img, when, err := frameAt(ctx, src, at)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("frame at %s in %s: %w", at.UTC().Format(time.RFC3339Nano), src.Path, err)
	}
	return img, when, nil
}

func frameAt(ctx context.Context, src Source, at time.Time) (*image.RGBA, time.Time, error) {
	var (
		cc    *astiav.CodecContext
		frame = astiav.AllocFrame()
		kept  = astiav.AllocFrame()
		have  bool
		when  time.Time
		first int64
		tb    astiav.Rational
		past  bool // a frame after at was decoded
	)
	if frame == nil || kept == nil {
		return nil, time.Time{}, errors.New("alloc frame: out of memory")
	}
	defer frame.Free()
	defer kept.Free()
	defer func() {
		if cc != nil {
			cc.Free()
		}
	}()
	haveFirst := false
	receive := func() error {
		for {
			if err := cc.ReceiveFrame(frame); err != nil {
				if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
					return nil
				}
				return fmt.Errorf("decode: %w", err)
			}
			pts := frame.Pts()
			if pts == astiav.NoPtsValue {
				frame.Unref()
				continue
			}
			wall := src.Start.Add(tsDuration(pts-first, tb))
			if wall.After(at) {
				past = true
				frame.Unref()
				continue
			}
			if !have || !wall.Before(when) {
				kept.Unref()
				kept.MoveRef(frame)
				have, when = true, wall
			} else {
				frame.Unref()
			}
		}
	}
	err := readSource(ctx, src, true, nil, func(in *astiav.Stream, pkt *astiav.Packet, wall, _ time.Time, key bool) (bool, error) {
		if cc == nil {
			codec := astiav.FindDecoder(in.CodecParameters().CodecID())
			if codec == nil {
				return false, fmt.Errorf("no decoder for %s", in.CodecParameters().CodecID())
			}
			if cc = astiav.AllocCodecContext(codec); cc == nil {
				return false, errors.New("alloc decoder: out of memory")
			}
			if err := in.CodecParameters().ToCodecContext(cc); err != nil {
				return false, fmt.Errorf("decoder parameters: %w", err)
			}
			cc.SetTimeBase(in.TimeBase())
			if err := cc.Open(codec, nil); err != nil {
				return false, fmt.Errorf("open decoder: %w", err)
			}
			tb = in.TimeBase()
		}
		if !haveFirst {
			first, haveFirst = pkt.Pts(), true
		}
		if err := cc.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
			return false, fmt.Errorf("decode: %w", err)
		}
		if err := receive(); err != nil {
			return false, err
		}
		// Frames come out in presentation order; once one after at has
		// appeared and this packet is beyond at too, nothing earlier can follow.
		return !(past && wall.After(at)), nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	if cc != nil {
		if err := cc.SendPacket(nil); err == nil {
			if err := receive(); err != nil {
				return nil, time.Time{}, err
			}
		}
	}
	if !have {
		return nil, time.Time{}, ErrNoFrames
	}
	img, err := toRGBA(kept)
	if err != nil {
		return nil, time.Time{}, err
	}
	return img, when, nil
}

// toRGBA converts a decoded 8-bit YUV 4:2:0, 4:2:2 or 4:4:4 frame to RGBA.
func toRGBA(f *astiav.Frame) (*image.RGBA, error) {
	gi, err := f.Data().GuessImageFormat()
	if err != nil {
		return nil, err
	}
	yc, ok := gi.(*image.YCbCr)
	if !ok {
		return nil, fmt.Errorf("unsupported pixel format %s", f.PixelFormat())
	}
	if err := f.Data().ToImage(yc); err != nil {
		return nil, err
	}
	full := f.ColorRange() == astiav.ColorRangeJpeg
	switch f.PixelFormat() {
	case astiav.PixelFormatYuvj420P, astiav.PixelFormatYuvj422P, astiav.PixelFormatYuvj444P:
		full = true
	}
	cs := (*C.AVFrame)(f.UnsafePointer()).colorspace
	bt709 := cs == C.AVCOL_SPC_BT709 || (cs == C.AVCOL_SPC_UNSPECIFIED && f.Height() > 576)
	// Coefficients (scaled by 1<<16) for R = Y' + kr*Cr, G = Y' - kgb*Cb - kgr*Cr, B = Y' + kb*Cb.
	var kr, kgb, kgr, kb float64
	if bt709 {
		kr, kgb, kgr, kb = 1.5748, 0.1873, 0.4681, 1.8556
	} else {
		kr, kgb, kgr, kb = 1.402, 0.344136, 0.714136, 1.772
	}
	ys, cs2 := 1.0, 1.0
	yoff := 0.0
	if !full {
		ys, cs2, yoff = 255.0/219.0, 255.0/224.0, 16
	}
	fix := func(v float64) int32 { return int32(v * 65536) }
	ky := fix(ys)
	ikr, ikgb, ikgr, ikb := fix(kr*cs2), fix(kgb*cs2), fix(kgr*cs2), fix(kb*cs2)
	iyoff := int32(yoff)

	r := yc.Rect
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		row := out.Pix[y*out.Stride:]
		for x := 0; x < r.Dx(); x++ {
			yi := yc.YOffset(x+r.Min.X, y+r.Min.Y)
			ci := yc.COffset(x+r.Min.X, y+r.Min.Y)
			yy := (int32(yc.Y[yi]) - iyoff) * ky
			cb := int32(yc.Cb[ci]) - 128
			cr := int32(yc.Cr[ci]) - 128
			row[4*x+0] = clamp8((yy + ikr*cr) >> 16)
			row[4*x+1] = clamp8((yy - ikgb*cb - ikgr*cr) >> 16)
			row[4*x+2] = clamp8((yy + ikb*cb) >> 16)
			row[4*x+3] = 0xff
		}
	}
	return out, nil
}

func clamp8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}
