package media

/*
#include <libavutil/frame.h>
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/asticode/go-astiav"
)

// Transcoding settings for H.265 working copies.
const (
	transcodeEncoder = "libx264"
	transcodePreset  = "veryfast"
	transcodeCRF     = 20
	transcodeGOP     = 2 * time.Second
)

// EncoderInfo describes the encoder that made a transcoded working copy.
type EncoderInfo struct {
	Name string // "libx264"
	// Version is the encoder's own version as it writes it into the stream,
	// e.g. "core 164 r3095 baf4baf"; "" if it wrote none.
	Version string
	// Settings are the options WriteClip chose, e.g.
	// "preset=veryfast crf=20 bf=0 g=50 pix_fmt=yuv420p size=1920x1080".
	Settings string
}

// wallSrc is the wall time and source index of a packet sent to the decoder.
type wallSrc struct {
	wall time.Time
	src  int
}

// transcoder decodes H.265 packets and re-encodes the frames with libx264.
type transcoder struct {
	dec    *astiav.CodecContext
	enc    *astiav.CodecContext
	frame  *astiav.Frame // decoded
	scaled *astiav.Frame // converted for the encoder
	edited *astiav.Frame // a redacted copy's picture (see FrameEdit)
	pkt    *astiav.Packet
	sws    *astiav.SoftwareScaleContext
	swsKey [3]int // source width, height, pixel format of sws
	encTB  astiav.Rational
	tags   map[int64]wallSrc // by the pts given to the decoder
	next   int64
	// lastPTS is the pts of the last frame sent to the encoder, in encTB.
	lastPTS int64
}

func (t *transcoder) free() {
	if t.sws != nil {
		t.sws.Free()
	}
	if t.pkt != nil {
		t.pkt.Free()
	}
	if t.scaled != nil {
		t.scaled.Free()
	}
	if t.edited != nil {
		t.edited.Free()
	}
	if t.frame != nil {
		t.frame.Free()
	}
	if t.enc != nil {
		t.enc.Free()
	}
	if t.dec != nil {
		t.dec.Free()
	}
}

// openDecoder prepares the transcoder for the packets of in.
func (w *clipWriter) openDecoder(in *astiav.Stream) error {
	t := &transcoder{tags: map[int64]wallSrc{}, lastPTS: -1 << 62, encTB: mpegts90k}
	w.tc = t
	codec := astiav.FindDecoder(in.CodecParameters().CodecID())
	if codec == nil {
		return fmt.Errorf("no decoder for %s", in.CodecParameters().CodecID())
	}
	if t.dec = astiav.AllocCodecContext(codec); t.dec == nil {
		return errors.New("alloc decoder: out of memory")
	}
	if err := in.CodecParameters().ToCodecContext(t.dec); err != nil {
		return fmt.Errorf("decoder parameters: %w", err)
	}
	t.dec.SetTimeBase(in.TimeBase())
	if err := t.dec.Open(codec, nil); err != nil {
		return fmt.Errorf("open decoder: %w", err)
	}
	if t.frame = astiav.AllocFrame(); t.frame == nil {
		return errors.New("alloc frame: out of memory")
	}
	if t.scaled = astiav.AllocFrame(); t.scaled == nil {
		return errors.New("alloc frame: out of memory")
	}
	if t.pkt = astiav.AllocPacket(); t.pkt == nil {
		return errors.New("alloc packet: out of memory")
	}
	return nil
}

// openEncoder opens libx264 for frames like f. globalHeader is set when the
// output format wants the parameter sets out of band (MP4 does).
func (w *clipWriter) openEncoder(f *astiav.Frame, globalHeader bool) error {
	t := w.tc
	codec := astiav.FindEncoderByName(transcodeEncoder)
	if codec == nil {
		return fmt.Errorf("find encoder %s: not available in this FFmpeg build", transcodeEncoder)
	}
	if t.enc = astiav.AllocCodecContext(codec); t.enc == nil {
		return fmt.Errorf("alloc %s context: out of memory", transcodeEncoder)
	}
	wd, ht := f.Width(), f.Height()
	gop := max(1, int((transcodeGOP+w.frameD/2)/w.frameD))
	t.enc.SetWidth(wd)
	t.enc.SetHeight(ht)
	t.enc.SetPixelFormat(astiav.PixelFormatYuv420P)
	t.enc.SetTimeBase(t.encTB)
	if w.fr.Num() > 0 && w.fr.Den() > 0 {
		t.enc.SetFramerate(w.fr)
	}
	if sar := f.SampleAspectRatio(); sar.Num() > 0 && sar.Den() > 0 {
		t.enc.SetSampleAspectRatio(sar)
	}
	t.enc.SetGopSize(gop)
	t.enc.SetThreadCount(0) // x264 picks the thread count
	if globalHeader {
		t.enc.SetFlags(t.enc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	}
	// The colour description of the source goes into the H.264 VUI. yuvj
	// formats are full range, and swscale converts them to limited range;
	// other formats keep their values and so their range.
	cf := (*C.AVFrame)(f.UnsafePointer())
	rng := int(cf.color_range)
	switch f.PixelFormat() {
	case astiav.PixelFormatYuvj420P, astiav.PixelFormatYuvj422P, astiav.PixelFormatYuvj444P:
		rng = C.AVCOL_RANGE_MPEG
	}
	opts := astiav.NewDictionary()
	defer opts.Free()
	set := [][2]string{
		{"preset", transcodePreset}, {"crf", strconv.Itoa(transcodeCRF)}, {"bf", "0"},
		{"color_primaries", strconv.Itoa(int(cf.color_primaries))},
		{"color_trc", strconv.Itoa(int(cf.color_trc))},
		{"colorspace", strconv.Itoa(int(cf.colorspace))},
		{"color_range", strconv.Itoa(rng)},
		{"chroma_sample_location", strconv.Itoa(int(cf.chroma_location))},
	}
	for _, kv := range set {
		if err := opts.Set(kv[0], kv[1], 0); err != nil {
			return fmt.Errorf("set %s option %s: %w", transcodeEncoder, kv[0], err)
		}
	}
	if err := t.enc.Open(codec, opts); err != nil {
		return fmt.Errorf("open %s: %w", transcodeEncoder, err)
	}
	w.info.Encoder = &EncoderInfo{
		Name: transcodeEncoder,
		Settings: fmt.Sprintf("preset=%s crf=%d bf=0 g=%d pix_fmt=yuv420p size=%dx%d",
			transcodePreset, transcodeCRF, gop, wd, ht),
	}
	return nil
}

// decode sends one source packet, whose first pts maps to wall time wall,
// to the decoder and encodes the frames it returns.
func (w *clipWriter) decode(pkt *astiav.Packet, wall time.Time, src int) error {
	t := w.tc
	// The decoder hands each frame the pts of the packet that held it: a
	// tag that finds the packet's wall time again.
	tag := t.next
	t.next++
	t.tags[tag] = wallSrc{wall: wall, src: src}
	pkt.SetPts(tag)
	pkt.SetDts(astiav.NoPtsValue)
	for {
		err := t.dec.SendPacket(pkt)
		if err == nil {
			return w.receiveFrames()
		}
		if !errors.Is(err, astiav.ErrEagain) {
			return fmt.Errorf("decode: %w", err)
		}
		if err := w.receiveFrames(); err != nil {
			return err
		}
	}
}

// receiveFrames encodes every frame the decoder has ready.
func (w *clipWriter) receiveFrames() error {
	t := w.tc
	for {
		if err := t.dec.ReceiveFrame(t.frame); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("decode: %w", err)
		}
		ws, ok := t.tags[t.frame.Pts()]
		delete(t.tags, t.frame.Pts())
		var err error
		if ok {
			err = w.encode(t.frame, ws.wall, ws.src)
		}
		t.frame.Unref()
		if err != nil {
			return err
		}
	}
}

// encode encodes one decoded frame shown at wall time wall. Its output pts
// follows wall time as in the remux path.
func (w *clipWriter) encode(f *astiav.Frame, wall time.Time, src int) error {
	t := w.tc
	if w.o.Edit != nil {
		var err error
		if f, err = w.edit(f, wall); err != nil {
			return err
		}
	}
	if w.out == nil {
		if err := w.openOutput(nil, f); err != nil {
			return err
		}
	}
	if !w.sentFrame {
		w.sentFrame = true
		w.wall0 = wall
		w.info.Start = wall
	}
	if n := len(w.info.Used); n == 0 || w.info.Used[n-1] != src {
		w.info.Used = append(w.info.Used, src)
	}
	at := w.place(wall, src)
	if err := w.caption(wall, at); err != nil {
		return err
	}
	pts := durationTS(at.Sub(w.wall0), t.encTB)
	if pts <= t.lastPTS {
		pts = t.lastPTS + 1 // see writeVideo
	}
	t.lastPTS = pts
	w.shown(wall, at)

	in := f
	if f.Width() != t.enc.Width() || f.Height() != t.enc.Height() || f.PixelFormat() != astiav.PixelFormatYuv420P {
		key := [3]int{f.Width(), f.Height(), int(f.PixelFormat())}
		if t.sws == nil || key != t.swsKey {
			if t.sws != nil {
				t.sws.Free()
				t.sws = nil
			}
			s, err := astiav.CreateSoftwareScaleContext(f.Width(), f.Height(), f.PixelFormat(),
				t.enc.Width(), t.enc.Height(), astiav.PixelFormatYuv420P,
				astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBicubic))
			if err != nil {
				return fmt.Errorf("create scaler: %w", err)
			}
			t.sws, t.swsKey = s, key
		}
		// A fresh buffer each time: the encoder may still hold the last one.
		t.scaled.Unref()
		t.scaled.SetWidth(t.enc.Width())
		t.scaled.SetHeight(t.enc.Height())
		t.scaled.SetPixelFormat(astiav.PixelFormatYuv420P)
		if err := t.scaled.AllocBuffer(0); err != nil {
			return fmt.Errorf("alloc frame buffer: %w", err)
		}
		if err := t.sws.ScaleFrame(f, t.scaled); err != nil {
			return fmt.Errorf("scale frame: %w", err)
		}
		in = t.scaled
	}
	in.SetPts(pts)
	in.SetPictureType(astiav.PictureTypeNone) // let x264 choose frame types
	in.SetKeyFrame(false)
	if err := t.enc.SendFrame(in); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return w.receivePackets()
}

// receivePackets writes every packet the encoder has ready.
func (w *clipWriter) receivePackets() error {
	t := w.tc
	for {
		if err := t.enc.ReceivePacket(t.pkt); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("encode: %w", err)
		}
		err := func() error {
			defer t.pkt.Unref()
			if w.info.Encoder.Version == "" {
				w.info.Encoder.Version = x264Version(t.pkt.Data())
			}
			t.pkt.RescaleTs(t.encTB, w.vtb)
			t.pkt.SetStreamIndex(w.vs.Index())
			t.pkt.SetDuration(durationTS(w.frameD, w.vtb))
			t.pkt.SetPos(-1)
			if err := w.out.WriteInterleavedFrame(t.pkt); err != nil {
				return fmt.Errorf("write video packet: %w", err)
			}
			w.info.Frames++
			return nil
		}()
		if err != nil {
			return err
		}
	}
}

// flushTranscoder drains the decoder and the encoder.
func (w *clipWriter) flushTranscoder() error {
	t := w.tc
	if t == nil || t.dec == nil || t.frame == nil {
		return nil
	}
	if err := t.dec.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("decode: %w", err)
	}
	if err := w.receiveFrames(); err != nil {
		return err
	}
	if t.enc == nil {
		return nil
	}
	if err := t.enc.SendFrame(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("encode: %w", err)
	}
	return w.receivePackets()
}

// x264Version extracts "core N rXXXX hash" from the user-data SEI x264
// writes into its first frame, or returns "".
func x264Version(b []byte) string {
	const mark = "x264 - core "
	i := bytes.Index(b, []byte(mark))
	if i < 0 {
		return ""
	}
	s := b[i+len("x264 - "):]
	if j := bytes.Index(s, []byte(" - ")); j >= 0 {
		s = s[:j]
	} else if len(s) > 40 {
		s = s[:40]
	}
	return string(s)
}
