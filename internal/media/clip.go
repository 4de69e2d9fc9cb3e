package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/asticode/go-astiav"
)

// ErrNoFrames is returned by WriteClip and FrameAt when the sources hold no
// frame in the requested window or at the requested instant.
var ErrNoFrames = errors.New("no frames")

// Source is one recorded MPEG-TS segment and the wall-clock time of its first
// frame. The wall time of any frame is Start + (pts - first pts of the file).
type Source struct {
	Path  string
	Start time.Time
}

// ClipOptions describe a working copy.
type ClipOptions struct {
	// Sources are the segments in time order, all of one codec.
	Sources []Source
	// From and To bound the window: the clip starts at the keyframe at or
	// before From and holds every frame whose wall time is before To.
	From, To time.Time
	// Location is the zone of the time captions. Default UTC.
	Location *time.Location
	// Progress, if set, is called with the number of source bytes consumed
	// since the previous call. Default none.
	Progress func(n int64)
	// Wait, if set, is called before source i is opened; a non-nil error
	// stops the clip with that error. It lets a caller write the sources
	// while the clip is made from them. Default none.
	Wait func(i int) error
	// Edit, if set, makes a redacted copy: every frame is decoded, edited
	// and encoded with libx264 as for a transcode, whatever the codec.
	// Default none.
	Edit *FrameEdit
}

// ClipInfo describes a written clip.
type ClipInfo struct {
	Codec Codec // codec of the sources
	// Method is "remux" (H.264, packets copied), "transcode" (H.265 to
	// H.264) or "redact" (ClipOptions.Edit: decoded, edited, encoded).
	Method string
	// Encoder is the encoder used by a transcode or redact; nil for a remux.
	Encoder *EncoderInfo
	// Start is the wall time of the first frame, End that of the last frame
	// plus one frame interval.
	Start, End time.Time
	Frames     int64
	Captions   int   // timed-text cues written
	Used       []int // indexes into Sources of the segments that gave frames
}

// movTextSampleEntry is the tx3g sample description FFmpeg's mov_text
// encoder writes: bottom-centred white text, font "Serif", size 18.
var movTextSampleEntry = []byte{
	0, 0, 0, 0, // displayFlags
	0x01,       // horizontal justification: centre
	0xff,       // vertical justification: bottom
	0, 0, 0, 0, // background colour RGBA
	0, 0, 0, 0, 0, 0, 0, 0, // BoxRecord
	0, 0, 0, 0, 0, 1, 0, 0x12, 0xff, 0xff, 0xff, 0xff, // StyleRecord
	0, 0, 0, 0x12, 'f', 't', 'a', 'b', 0, 1, 0, 1, 5, 'S', 'e', 'r', 'i', 'f', // FontTableBox
}

// CaptionText is the text of the time caption for the second starting at t:
// "2006-01-02 15:04:05 MST" in loc.
func CaptionText(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// WriteClip writes the working copy of the window to path as a fast-start
// MP4 (moov before mdat) with the video stream and a timed-text (mov_text)
// stream holding one cue per second of wall-clock time in o.Location.
// H.264 sources are remuxed: their packets are copied, never re-encoded.
// H.265 sources are transcoded to H.264 (many court players lack H.265):
// decoded from the keyframe at or before From and encoded with libx264
// (yuv420p, same size, preset veryfast, CRF 20, no B-frames, about 2 s
// GOPs); ClipInfo.Encoder records the settings.
// Output timestamps follow wall time, so a recorded gap stays a gap.
//
// On error the file at path may exist and hold garbage; the caller removes
// it. ctx is checked between packets.
func WriteClip(ctx context.Context, path string, o ClipOptions) (ClipInfo, error) {
	info, err := writeClip(ctx, path, o)
	if err != nil {
		return info, fmt.Errorf("write clip %s: %w", path, err)
	}
	return info, nil
}

// clipWriter is the state of one WriteClip.
type clipWriter struct {
	o       ClipOptions
	path    string
	out     *astiav.FormatContext
	pb      *astiav.IOContext
	vs, ss  *astiav.Stream // output video and subtitle streams
	vtb     astiav.Rational
	stb     astiav.Rational
	started bool      // the window has started: packets go to the output
	sent    bool      // a packet went to the output (or the decoder)
	wall0   time.Time // wall time of output time zero
	lastDTS int64     // last video dts written, in vtb
	frameD  time.Duration
	fr      astiav.Rational // source frame rate; 0/0 if unknown
	// tc is set for a transcode; sentFrame once a frame went to its encoder.
	tc        *transcoder
	sentFrame bool
	info      ClipInfo
	// Captions: cues not yet written, in presentation order; the latest
	// wall time seen; the second of the last cue written and its end.
	cues     []cue
	frontier time.Time
	capDone  bool
	capLast  time.Time
	capStop  int64
	lastEnd  time.Time // end of the latest frame shown
	copyEnd  time.Time // the same on the copy's timeline (see place)
	shift    time.Duration
	placeSrc int
	spkt     *astiav.Packet
}

func writeClip(ctx context.Context, path string, o ClipOptions) (ClipInfo, error) {
	if len(o.Sources) == 0 {
		return ClipInfo{}, ErrNoFrames
	}
	if !o.From.Before(o.To) {
		return ClipInfo{}, fmt.Errorf("window %s to %s is empty", o.From, o.To)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	w := &clipWriter{o: o, lastDTS: -1 << 62}
	defer w.free()
	if w.spkt = astiav.AllocPacket(); w.spkt == nil {
		return ClipInfo{}, errors.New("alloc packet: out of memory")
	}
	var (
		gop    []wallPacket // packets since the last keyframe before From
		beyond []wallPacket // packets shown after To, not yet known to be needed
	)
	defer freeAll(&gop)
	defer freeAll(&beyond)
	done := false
	for i, src := range o.Sources {
		if done {
			break
		}
		if o.Wait != nil {
			if err := o.Wait(i); err != nil {
				return w.info, err
			}
		}
		// Once the output is open its stream parameters are fixed: later
		// sources need no probing (decoding frames), only their packets.
		err := readSource(ctx, src, !w.started, o.Progress, func(in *astiav.Stream, pkt *astiav.Packet, wall, dwall time.Time, key bool) (bool, error) {
			if w.info.Codec == 0 {
				c, err := codecOf(in.CodecParameters().CodecID())
				if err != nil {
					return false, err
				}
				w.info.Codec = c
				w.info.Method = "remux"
				if c == H265 {
					w.info.Method = "transcode"
				}
				if o.Edit != nil {
					w.info.Method = "redact"
				}
			}
			// The window ends in decode order: with B-frames a reference
			// shown after To may be needed by frames shown before it.
			if !dwall.Before(o.To) || (!w.started && !wall.Before(o.To)) {
				done = true
				return false, nil
			}
			if !w.started && wall.Before(o.From) {
				if key {
					for _, p := range gop {
						p.pkt.Free()
					}
					gop = gop[:0]
				}
				if key || len(gop) > 0 {
					gop = append(gop, wallPacket{pkt: pkt.Clone(), wall: wall, src: i})
				}
				return true, nil
			}
			if !w.started {
				if err := w.start(path, in); err != nil {
					return false, err
				}
				if !(key && !wall.After(o.From)) {
					for _, p := range gop {
						if err := w.video(p.pkt, p.wall, p.src); err != nil {
							return false, err
						}
					}
				}
				for _, p := range gop {
					p.pkt.Free()
				}
				gop = nil
				if !w.sent && !key {
					// No keyframe before this frame: the clip starts at the
					// next keyframe.
					return true, nil
				}
			}
			if !w.sent && !key {
				return true, nil
			}
			if !wall.Before(o.To) {
				// Shown after the window: kept only if a frame shown inside
				// it follows in decode order (a B-frame may refer to it).
				beyond = append(beyond, wallPacket{pkt: pkt.Clone(), wall: wall, src: i})
				return true, nil
			}
			for _, p := range beyond {
				if err := w.video(p.pkt, p.wall, p.src); err != nil {
					return false, err
				}
			}
			freeAll(&beyond)
			return true, w.video(pkt, wall, i)
		})
		if err != nil {
			return w.info, fmt.Errorf("%s: %w", src.Path, err)
		}
	}
	if err := w.flushTranscoder(); err != nil {
		return w.info, err
	}
	if !w.started || w.info.Frames == 0 {
		return w.info, ErrNoFrames
	}
	if err := w.finish(); err != nil {
		return w.info, err
	}
	return w.info, nil
}

// cue is a time caption waiting to be written: the second of wall time it
// shows, and on the copy's timeline the first frame shown in that second,
// the end of the last, and where the second ends.
type cue struct{ sec, from, end, secEnd time.Time }

type wallPacket struct {
	pkt  *astiav.Packet
	wall time.Time
	src  int
}

func freeAll(ps *[]wallPacket) {
	for _, p := range *ps {
		p.pkt.Free()
	}
	*ps = (*ps)[:0]
}

func codecOf(id astiav.CodecID) (Codec, error) {
	switch id {
	case astiav.CodecIDH264:
		return H264, nil
	case astiav.CodecIDHevc:
		return H265, nil
	}
	return 0, fmt.Errorf("unsupported codec %s", id)
}

// readSource calls fn with every video access unit of src in file (decode)
// order, with the wall time at which it is shown (its pts) and the wall time
// at which it is decoded (its dts; the same without B-frames), until fn
// returns false or an error. With probe false the stream parameters are not
// probed (no frames are decoded): the video stream, its time base and its
// packets are all the caller then uses.
//
// FFmpeg's H.264 parser ends an access unit at a parameter set that follows
// a slice, so a keyframe whose slices each come after repeated parameter
// sets (as some cameras send them) is read as several packets, only the
// first with a timestamp. The packets without one are joined back to the
// packet before them: every slice of the access unit reaches fn, byte for
// byte, as one packet.
func readSource(ctx context.Context, src Source, probe bool, progress func(int64),
	fn func(in *astiav.Stream, pkt *astiav.Packet, wall, decodeWall time.Time, key bool) (bool, error)) error {
	in := astiav.AllocFormatContext()
	if in == nil {
		return errors.New("alloc input context: out of memory")
	}
	defer in.Free()
	if err := in.OpenInput(src.Path, astiav.FindInputFormat("mpegts"), nil); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer in.CloseInput()
	if probe || len(in.Streams()) == 0 {
		if err := in.FindStreamInfo(nil); err != nil {
			return fmt.Errorf("find stream info: %w", err)
		}
	}
	var vs *astiav.Stream
	for _, s := range in.Streams() {
		if s.CodecParameters().MediaType() == astiav.MediaTypeVideo {
			vs = s
			break
		}
	}
	if vs == nil {
		return errors.New("no video stream")
	}
	tb := vs.TimeBase()
	pkt := astiav.AllocPacket()
	if pkt == nil {
		return errors.New("alloc packet: out of memory")
	}
	defer pkt.Free()
	held := astiav.AllocPacket() // the access unit read last, not yet given to fn
	if held == nil {
		return errors.New("alloc packet: out of memory")
	}
	defer held.Free()
	var (
		first   int64
		haveTS  bool
		holding bool
		lastPos int64
	)
	// give passes the held access unit to fn.
	give := func() (bool, error) {
		defer held.Unref()
		holding = false
		if !haveTS {
			first, haveTS = held.Pts(), true
		}
		wall := src.Start.Add(tsDuration(held.Pts()-first, tb))
		dwall := wall
		if d := held.Dts(); d != astiav.NoPtsValue {
			dwall = src.Start.Add(tsDuration(d-first, tb))
		}
		return fn(vs, held, wall, dwall, held.Flags().Has(astiav.PacketFlagKey))
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := in.ReadFrame(pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				break
			}
			return fmt.Errorf("read: %w", err)
		}
		more, err := func() (bool, error) {
			defer pkt.Unref()
			if pos := pkt.Pos(); progress != nil && pos > lastPos {
				progress(pos - lastPos)
				lastPos = pos
			}
			if pkt.StreamIndex() != vs.Index() {
				return true, nil
			}
			if pkt.Pts() == astiav.NoPtsValue {
				if holding {
					return true, joinPacket(held, pkt)
				}
				return true, nil // no access unit to belong to: before the first one
			}
			more := true
			if holding {
				var err error
				if more, err = give(); err != nil || !more {
					return more, err
				}
			}
			if err := held.Ref(pkt); err != nil {
				return false, fmt.Errorf("ref packet: %w", err)
			}
			holding = true
			return more, nil
		}()
		if err != nil || !more {
			return err
		}
	}
	if holding {
		if _, err := give(); err != nil {
			return err
		}
	}
	if progress != nil {
		if fi, err := os.Stat(src.Path); err == nil && fi.Size() > lastPos {
			progress(fi.Size() - lastPos)
		}
	}
	return nil
}

// joinPacket appends the data of part to au, keeping au's timestamps and
// flags.
func joinPacket(au, part *astiav.Packet) error {
	data := append(au.Data(), part.Data()...)
	pts, dts, flags, idx, pos, dur := au.Pts(), au.Dts(), au.Flags(), au.StreamIndex(), au.Pos(), au.Duration()
	au.Unref()
	if err := au.FromData(data); err != nil {
		return fmt.Errorf("join packet: %w", err)
	}
	au.SetPts(pts)
	au.SetDts(dts)
	au.SetFlags(flags)
	au.SetStreamIndex(idx)
	au.SetPos(pos)
	au.SetDuration(dur)
	return nil
}

func tsDuration(ts int64, tb astiav.Rational) time.Duration {
	return time.Duration(float64(ts) * float64(tb.Num()) / float64(tb.Den()) * float64(time.Second))
}

func durationTS(d time.Duration, tb astiav.Rational) int64 {
	return int64(d.Seconds()*float64(tb.Den())/float64(tb.Num()) + 0.5)
}

// start begins the output for video stream in: a remux opens the output
// with in's parameters; a transcode opens the decoder, and the output once
// the first frame is decoded.
func (w *clipWriter) start(path string, in *astiav.Stream) error {
	w.started = true
	w.path = path
	fr := in.AvgFrameRate()
	if fr.Num() <= 0 || fr.Den() <= 0 {
		fr = in.RFrameRate()
	}
	w.frameD = 40 * time.Millisecond
	if fr.Num() > 0 && fr.Den() > 0 {
		w.frameD = time.Duration(float64(time.Second) * float64(fr.Den()) / float64(fr.Num()))
		w.fr = fr
	}
	if w.info.Method != "remux" {
		return w.openDecoder(in)
	}
	return w.openOutput(in.CodecParameters(), nil)
}

// video sends one source packet, whose first pts maps to wall time wall,
// to the output: copied for a remux, decoded for a transcode.
func (w *clipWriter) video(pkt *astiav.Packet, wall time.Time, src int) error {
	w.sent = true
	if w.tc != nil {
		return w.decode(pkt, wall, src)
	}
	return w.writeVideo(pkt, wall, src)
}

// openOutput opens the output file. A remux copies the video stream
// parameters par; a transcode (f, its first decoded frame, not nil) opens
// the encoder for frames like f and takes the encoder's parameters.
func (w *clipWriter) openOutput(par *astiav.CodecParameters, f *astiav.Frame) (err error) {
	path := w.path
	if w.out, err = astiav.AllocOutputFormatContext(nil, "mp4", path); err != nil {
		return fmt.Errorf("alloc output context: %w", err)
	}
	if w.vs = w.out.NewStream(nil); w.vs == nil {
		return errors.New("new stream: out of memory")
	}
	width := 0
	if f != nil {
		if err := w.openEncoder(f, w.out.OutputFormat().Flags().Has(astiav.IOFormatFlagGlobalheader)); err != nil {
			return err
		}
		if err := w.vs.CodecParameters().FromCodecContext(w.tc.enc); err != nil {
			return fmt.Errorf("encoder parameters: %w", err)
		}
		width = w.tc.enc.Width()
	} else {
		if err := par.Copy(w.vs.CodecParameters()); err != nil {
			return fmt.Errorf("copy codec parameters: %w", err)
		}
		width = par.Width()
	}
	w.vs.CodecParameters().SetCodecTag(0)
	w.vs.SetTimeBase(mpegts90k)
	if w.fr.Num() > 0 && w.fr.Den() > 0 {
		w.vs.SetAvgFrameRate(w.fr)
	}

	if w.ss = w.out.NewStream(nil); w.ss == nil {
		return errors.New("new stream: out of memory")
	}
	sp := w.ss.CodecParameters()
	sp.SetMediaType(astiav.MediaTypeSubtitle)
	sp.SetCodecID(astiav.CodecIDMovText)
	sp.SetWidth(width)
	sp.SetHeight(60)
	if err := sp.SetExtraData(movTextSampleEntry); err != nil {
		return fmt.Errorf("set caption extradata: %w", err)
	}
	w.ss.SetTimeBase(astiav.NewRational(1, 1000))

	if w.pb, err = astiav.OpenIOContext(path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite)); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	w.out.SetPb(w.pb)
	opts := astiav.NewDictionary()
	defer opts.Free()
	if err := opts.Set("movflags", "+faststart", 0); err != nil {
		return fmt.Errorf("set options: %w", err)
	}
	if err := w.out.WriteHeader(opts); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	w.vtb, w.stb = w.vs.TimeBase(), w.ss.TimeBase()
	return nil
}

// writeVideo writes one video packet whose first pts maps to wall time wall.
func (w *clipWriter) writeVideo(pkt *astiav.Packet, wall time.Time, src int) error {
	if w.info.Frames == 0 {
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
	pts := durationTS(at.Sub(w.wall0), w.vtb)
	dts := pts
	if pkt.Dts() != astiav.NoPtsValue {
		dts = pts - (pkt.Pts() - pkt.Dts())
	}
	if dts <= w.lastDTS {
		// Segment start times are wall-clock readings and may overlap
		// the previous segment's end by a fraction of a frame.
		shift := w.lastDTS + 1 - dts
		dts += shift
		pts += shift
	}
	w.lastDTS = dts
	pkt.SetStreamIndex(w.vs.Index())
	pkt.SetPts(pts)
	pkt.SetDts(dts)
	pkt.SetDuration(durationTS(w.frameD, w.vtb))
	pkt.SetPos(-1)
	if err := w.out.WriteInterleavedFrame(pkt); err != nil {
		return fmt.Errorf("write video packet: %w", err)
	}
	w.info.Frames++
	w.shown(wall, at)
	return nil
}

// shown notes a frame written at wall (at on the copy's timeline): the
// latest end of a frame shown, for ClipInfo.End and for place. (With
// B-frames the last written is not the last shown.)
func (w *clipWriter) shown(wall, at time.Time) {
	if end := wall.Add(w.frameD); end.After(w.lastEnd) {
		w.lastEnd = end
	}
	if end := at.Add(w.frameD); end.After(w.copyEnd) {
		w.copyEnd = end
	}
	w.info.End = w.lastEnd
}

// place returns where a frame shown at wall goes on the working copy's
// timeline. Segments meet exactly on the recorder's timeline, which
// follows the box clock by steps of less than half a frame at seams; the
// copy keeps whole frame intervals across such a seam (the step is carried
// in an offset, at most a few frames over hours), since decoders and
// players count frames at the stream's frame rate. A larger step (a gap,
// a reconnection) is kept as it is. Captions give the wall time.
func (w *clipWriter) place(wall time.Time, src int) time.Time {
	if w.info.Frames > 0 && src != w.placeSrc {
		if d := w.copyEnd.Sub(wall.Add(w.shift)); d != 0 && d <= w.frameD/2 && d >= -w.frameD/2 {
			w.shift += d
		}
	}
	w.placeSrc = src
	return wall.Add(w.shift)
}

// caption notes a frame shown at wall, at on the copy's timeline, for the
// time captions: one cue per second of wall time, from the first frame
// shown in that second to the end of the last one (at most the second's
// end). Frames arrive in decode order, so with B-frames a second's frames
// come out of order: a cue is written once frames shown well after its
// second have arrived, and cues are written in presentation order.
func (w *clipWriter) caption(wall, at time.Time) error {
	sec := wall.Truncate(time.Second)
	if w.capDone && !sec.After(w.capLast) {
		return nil // a late frame of a second whose cue is written: it is covered
	}
	end, secEnd := at.Add(w.frameD), at.Add(sec.Add(time.Second).Sub(wall))
	i := len(w.cues)
	for i > 0 && w.cues[i-1].sec.After(sec) {
		i--
	}
	if i > 0 && w.cues[i-1].sec.Equal(sec) {
		c := &w.cues[i-1]
		if at.Before(c.from) {
			c.from = at
		}
		if end.After(c.end) {
			c.end = end
		}
	} else {
		w.cues = slices.Insert(w.cues, i, cue{sec: sec, from: at, end: end, secEnd: secEnd})
	}
	if at.After(w.frontier) {
		w.frontier = at
	}
	margin := max(500*time.Millisecond, 8*w.frameD)
	for len(w.cues) > 0 && !w.cues[0].secEnd.Add(margin).After(w.frontier) {
		if err := w.flushCaption(); err != nil {
			return err
		}
	}
	return nil
}

// flushCaption writes the earliest pending cue.
func (w *clipWriter) flushCaption() error {
	c := w.cues[0]
	w.cues = w.cues[1:]
	w.capDone, w.capLast = true, c.sec
	end := c.secEnd
	if c.end.Before(end) {
		end = c.end
	}
	start := durationTS(c.from.Sub(w.wall0), w.stb)
	stop := durationTS(end.Sub(w.wall0), w.stb)
	if start < w.capStop {
		start = w.capStop
	}
	if stop <= start {
		return nil
	}
	w.capStop = stop
	text := CaptionText(c.sec, w.o.Location)
	b := make([]byte, 2, 2+len(text))
	binary.BigEndian.PutUint16(b, uint16(len(text)))
	b = append(b, text...)
	if err := w.spkt.FromData(b); err != nil {
		return fmt.Errorf("caption packet: %w", err)
	}
	defer w.spkt.Unref()
	w.spkt.SetStreamIndex(w.ss.Index())
	w.spkt.SetPts(start)
	w.spkt.SetDts(start)
	w.spkt.SetDuration(stop - start)
	w.spkt.SetFlags(astiav.NewPacketFlags(astiav.PacketFlagKey))
	if err := w.out.WriteInterleavedFrame(w.spkt); err != nil {
		return fmt.Errorf("write caption packet: %w", err)
	}
	w.info.Captions++
	return nil
}

// finish writes the last caption and the trailer (which, with faststart,
// moves the moov box in front of mdat) and closes the file.
func (w *clipWriter) finish() error {
	for len(w.cues) > 0 {
		if err := w.flushCaption(); err != nil {
			return err
		}
	}
	if err := w.out.WriteTrailer(); err != nil {
		return fmt.Errorf("write trailer: %w", err)
	}
	pb := w.pb
	w.pb = nil
	if err := pb.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func (w *clipWriter) free() {
	if w.tc != nil {
		w.tc.free()
	}
	if w.pb != nil {
		_ = w.pb.Close() // failure path: the caller removes the file
	}
	if w.out != nil {
		w.out.Free()
	}
	if w.spkt != nil {
		w.spkt.Free()
	}
}
