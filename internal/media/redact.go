package media

/*
#include <libavutil/frame.h>
#include <string.h>

// copy_rows copies rows rows of n bytes of plane i from src to dst.
static void copy_rows(AVFrame *dst, const AVFrame *src, int i, int rows, int n) {
	for (int y = 0; y < rows; y++) {
		memcpy(dst->data[i] + (size_t)y * dst->linesize[i], src->data[i] + (size_t)y * src->linesize[i], n);
	}
}

// fill_rows sets rows [from, to) of plane i of f, n bytes each, to v.
static void fill_rows(AVFrame *f, int i, int from, int to, int n, int v) {
	for (int y = from; y < to; y++) {
		memset(f->data[i] + (size_t)y * f->linesize[i], v, n);
	}
}

// copy_colour copies the colour description of src to dst.
static void copy_colour(AVFrame *dst, const AVFrame *src) {
	dst->color_primaries = src->color_primaries;
	dst->color_trc = src->color_trc;
	dst->colorspace = src->colorspace;
	dst->color_range = src->color_range;
	dst->chroma_location = src->chroma_location;
	dst->sample_aspect_ratio = src->sample_aspect_ratio;
}
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// Picture is a decoded frame in planar YUV 4:2:0, 8 bits, limited range,
// lent to FrameEdit.Apply: its slices are valid only during that call.
// Cb and Cr have half the width and height (rounded up).
type Picture struct {
	Width, Height    int
	Y, Cb, Cr        []byte
	YStride, CStride int
}

// FrameEdit asks WriteClip to decode every frame, edit it and encode the
// result with libx264 (ClipInfo.Method "redact"): how a copy is redacted.
type FrameEdit struct {
	// Band gives the number of rows added below a w×h source picture,
	// black, for a caption; it is rounded up to an even number. Nil: none.
	Band func(w, h int) int
	// Apply edits the picture of the frame shown at wall time wall: the
	// source picture in its top rows, the band below. Required.
	Apply func(p *Picture, wall time.Time)
}

// edit returns a new frame holding f (converted to yuv420p) with the band
// below it, edited by w.o.Edit. The frame belongs to the transcoder and is
// valid until the next call.
func (w *clipWriter) edit(f *astiav.Frame, wall time.Time) (*astiav.Frame, error) {
	t := w.tc
	src := f
	if f.PixelFormat() != astiav.PixelFormatYuv420P {
		key := [3]int{f.Width(), f.Height(), int(f.PixelFormat())}
		if t.sws == nil || key != t.swsKey {
			if t.sws != nil {
				t.sws.Free()
				t.sws = nil
			}
			s, err := astiav.CreateSoftwareScaleContext(f.Width(), f.Height(), f.PixelFormat(),
				f.Width(), f.Height(), astiav.PixelFormatYuv420P,
				astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBicubic))
			if err != nil {
				return nil, fmt.Errorf("create scaler: %w", err)
			}
			t.sws, t.swsKey = s, key
		}
		t.scaled.Unref()
		t.scaled.SetWidth(f.Width())
		t.scaled.SetHeight(f.Height())
		t.scaled.SetPixelFormat(astiav.PixelFormatYuv420P)
		if err := t.scaled.AllocBuffer(0); err != nil {
			return nil, fmt.Errorf("alloc frame buffer: %w", err)
		}
		if err := t.sws.ScaleFrame(f, t.scaled); err != nil {
			return nil, fmt.Errorf("scale frame: %w", err)
		}
		src = t.scaled
	}
	wd, ht := src.Width(), src.Height()
	band := 0
	if w.o.Edit.Band != nil {
		band = max(0, w.o.Edit.Band(wd, ht))
		band += band % 2
	}
	if t.edited == nil {
		if t.edited = astiav.AllocFrame(); t.edited == nil {
			return nil, fmt.Errorf("alloc frame: out of memory")
		}
	}
	// A fresh buffer each time: the encoder may still hold the last one.
	e := t.edited
	e.Unref()
	e.SetWidth(wd)
	e.SetHeight(ht + band)
	e.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := e.AllocBuffer(0); err != nil {
		return nil, fmt.Errorf("alloc frame buffer: %w", err)
	}
	ce, cs := (*C.AVFrame)(e.UnsafePointer()), (*C.AVFrame)(src.UnsafePointer())
	cw, ch, cth := (wd+1)/2, (ht+1)/2, (ht+band+1)/2
	C.copy_rows(ce, cs, 0, C.int(ht), C.int(wd))
	C.copy_rows(ce, cs, 1, C.int(ch), C.int(cw))
	C.copy_rows(ce, cs, 2, C.int(ch), C.int(cw))
	C.fill_rows(ce, 0, C.int(ht), C.int(ht+band), C.int(wd), 16)
	C.fill_rows(ce, 1, C.int(ch), C.int(cth), C.int(cw), 128)
	C.fill_rows(ce, 2, C.int(ch), C.int(cth), C.int(cw), 128)
	C.copy_colour(ce, (*C.AVFrame)(f.UnsafePointer()))
	if src != f {
		ce.color_range = C.AVCOL_RANGE_MPEG // swscale gave limited range
	}
	ys, cstr := int(ce.linesize[0]), int(ce.linesize[1])
	p := &Picture{
		Width: wd, Height: ht + band, YStride: ys, CStride: cstr,
		Y:  unsafe.Slice((*byte)(unsafe.Pointer(ce.data[0])), ys*(ht+band)),
		Cb: unsafe.Slice((*byte)(unsafe.Pointer(ce.data[1])), cstr*cth),
		Cr: unsafe.Slice((*byte)(unsafe.Pointer(ce.data[2])), cstr*cth),
	}
	w.o.Edit.Apply(p, wall)
	return e, nil
}
