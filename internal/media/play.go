package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/asticode/go-astiav"
)

// PlayGap says why a camera has no footage from From to To, for the card a
// playback shows over a hole.
type PlayGap struct {
	From, To time.Time
	Reason   string
}

// PlayOptions describe a playback stream.
type PlayOptions struct {
	// Sources are the segments in time order, all of one codec.
	Sources []Source
	// From and To bound the window: the stream starts at the keyframe at or
	// before From and holds every frame decoded before To.
	From, To time.Time
	// Location is the zone of the time subtitles. Default UTC.
	Location *time.Location
	// Gaps word the cards shown over holes in the footage; a hole no gap
	// covers says "no footage". Default none.
	Gaps []PlayGap
	// HoleShown is how long a hole in the footage is shown (the last
	// picture held, with a "NO RECORDING" subtitle) instead of its real
	// length. Default 2 s.
	HoleShown time.Duration
	// Wait, if set, is called before source i is opened; a non-nil error
	// stops the stream with that error (the caller checks the segment
	// against its seal, say). Default none.
	Wait func(i int) error
}

// PlayInfo says what a playback stream held.
type PlayInfo struct {
	Codec Codec
	// Start is the wall time of the first frame, End that of the last frame
	// plus one frame interval.
	Start, End time.Time
	Frames     int64
	Holes      []PlayGap // the holes shown as cards, with their wording
	Cues       int       // subtitle cues written (times and holes)
}

// holeMin is the least jump in decode time between frames that is a hole
// in the footage, not jitter or a lost frame or two.
const holeMin = time.Second

// WritePlayback streams the window to w as Matroska for a player (mpv,
// ffplay, vlc): the video packets copied as recorded (never re-encoded,
// H.264 or H.265), from the keyframe at or before From, across segments on
// one continuous timeline, and a subtitle track (SubRip, marked default)
// giving the site time with its zone for every second shown. A hole in the
// footage is not skipped silently: it is shortened to HoleShown, the last
// picture held, with a subtitle "NO RECORDING 10:03:12–10:04:40 GMT
// (reason)". Matroska, not MPEG-TS: players read text subtitles from
// Matroska, while FFmpeg's MPEG-TS muxer would carry them as an unknown
// private stream that no player shows.
//
// Bytes reach w as the muxer fills its buffer; a failed write stops the
// stream with that error. ctx is checked between packets.
func WritePlayback(ctx context.Context, w io.Writer, o PlayOptions) (PlayInfo, error) {
	if len(o.Sources) == 0 {
		return PlayInfo{}, ErrNoFrames
	}
	if !o.From.Before(o.To) {
		return PlayInfo{}, fmt.Errorf("window %s to %s is empty", o.From, o.To)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.HoleShown <= 0 {
		o.HoleShown = 2 * time.Second
	}
	p := &player{o: o, sink: &tsSink{w: w}, lastDTS: -1 << 62}
	defer p.free()
	var gop []wallPacket // packets since the last keyframe before From
	defer freeAll(&gop)
	done := false
	for i, src := range o.Sources {
		if done {
			break
		}
		if o.Wait != nil {
			if err := o.Wait(i); err != nil {
				return p.info, err
			}
		}
		err := readSource(ctx, src, p.out == nil, nil, func(in *astiav.Stream, pkt *astiav.Packet, wall, dwall time.Time, key bool) (bool, error) {
			if !dwall.Before(o.To) || (p.out == nil && !wall.Before(o.To)) {
				done = true
				return false, nil
			}
			if p.out == nil && wall.Before(o.From) {
				if key {
					freeAll(&gop)
				}
				if key || len(gop) > 0 {
					gop = append(gop, wallPacket{pkt: pkt.Clone(), wall: wall, src: i})
				}
				return true, nil
			}
			if p.out == nil {
				if err := p.open(in); err != nil {
					return false, err
				}
				if !(key && !wall.After(o.From)) {
					for _, g := range gop {
						if err := p.video(g.pkt, g.wall, g.wall); err != nil {
							return false, err
						}
					}
				}
				freeAll(&gop)
			}
			if p.info.Frames == 0 && !key {
				return true, nil // no keyframe yet: the stream starts at the next one
			}
			return true, p.video(pkt, wall, dwall)
		})
		if err != nil {
			return p.info, fmt.Errorf("%s: %w", src.Path, err)
		}
	}
	if p.out == nil || p.info.Frames == 0 {
		return p.info, ErrNoFrames
	}
	return p.info, p.finish()
}

// player is the state of one WritePlayback.
type player struct {
	o      PlayOptions
	sink   *tsSink
	out    *astiav.FormatContext
	pb     *astiav.IOContext
	vs, ss *astiav.Stream
	vtb    astiav.Rational
	spkt   *astiav.Packet
	frameD time.Duration
	info   PlayInfo

	base      time.Time // wall time of output time zero, moved on over holes
	lastDTS   int64
	lastDwall time.Time // decode wall time of the last frame written
	cueSec    time.Time // the second the open time cue shows
	cueFrom   time.Duration
	cueOpen   bool
	subStop   time.Duration // end of the last cue written
}

// open starts the Matroska output with the video stream of in and the
// subtitle track.
func (p *player) open(in *astiav.Stream) (err error) {
	c, err := codecOf(in.CodecParameters().CodecID())
	if err != nil {
		return err
	}
	p.info.Codec = c
	p.frameD = 40 * time.Millisecond
	fr := in.AvgFrameRate()
	if fr.Num() <= 0 || fr.Den() <= 0 {
		fr = in.RFrameRate()
	}
	if fr.Num() > 0 && fr.Den() > 0 {
		p.frameD = time.Duration(float64(time.Second) * float64(fr.Den()) / float64(fr.Num()))
	}
	if p.out, err = astiav.AllocOutputFormatContext(nil, "matroska", ""); err != nil {
		return fmt.Errorf("alloc output context: %w", err)
	}
	if p.pb, err = astiav.AllocIOContext(tsBufferSize, true, nil, nil, p.sink.write); err != nil {
		return fmt.Errorf("alloc io context: %w", err)
	}
	p.out.SetPb(p.pb)
	p.out.SetFlags(p.out.Flags().Add(astiav.FormatContextFlagCustomIo))
	if p.vs = p.out.NewStream(nil); p.vs == nil {
		return errors.New("new stream: out of memory")
	}
	if err := in.CodecParameters().Copy(p.vs.CodecParameters()); err != nil {
		return fmt.Errorf("copy codec parameters: %w", err)
	}
	p.vs.CodecParameters().SetCodecTag(0)
	p.vs.SetTimeBase(astiav.NewRational(1, 1000))
	if fr.Num() > 0 && fr.Den() > 0 {
		p.vs.SetAvgFrameRate(fr)
	}
	if p.ss = p.out.NewStream(nil); p.ss == nil {
		return errors.New("new stream: out of memory")
	}
	sp := p.ss.CodecParameters()
	sp.SetMediaType(astiav.MediaTypeSubtitle)
	sp.SetCodecID(astiav.CodecIDSubrip)
	p.ss.SetTimeBase(astiav.NewRational(1, 1000))
	if p.spkt = astiav.AllocPacket(); p.spkt == nil {
		return errors.New("alloc packet: out of memory")
	}
	if err := p.out.WriteHeader(nil); err != nil {
		return p.fail("write header", err)
	}
	p.vtb = p.vs.TimeBase()
	return nil
}

// fail names op in err, preferring the writer's own error.
func (p *player) fail(op string, err error) error {
	if p.sink.err != nil {
		err = p.sink.err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// video writes one packet shown at wall and decoded at dwall.
func (p *player) video(pkt *astiav.Packet, wall, dwall time.Time) error {
	if p.info.Frames == 0 {
		p.info.Start = wall
		p.base = wall
		if lead := wall.Sub(p.o.From); lead >= holeMin {
			// Nothing recorded at the start of the window: say so first.
			p.base = wall.Add(-p.o.HoleShown)
			if err := p.hole(p.o.From, wall, 0, p.o.HoleShown); err != nil {
				return err
			}
		}
	} else if jump := dwall.Sub(p.lastDwall); jump >= holeMin && jump >= 4*p.frameD {
		// Decode times find the hole; presentation times bound it.
		holeFrom := p.info.End
		at := p.outAt(holeFrom)
		if err := p.closeCue(at); err != nil {
			return err
		}
		if hidden := wall.Sub(holeFrom) - p.o.HoleShown; hidden > 0 {
			p.base = p.base.Add(hidden)
		}
		if err := p.hole(holeFrom, wall, at, p.outAt(wall)); err != nil {
			return err
		}
	}
	p.lastDwall = dwall
	at := p.outAt(wall)
	if sec := wall.Truncate(time.Second); !p.cueOpen || sec.After(p.cueSec) {
		if err := p.closeCue(at); err != nil {
			return err
		}
		p.cueSec, p.cueFrom, p.cueOpen = sec, at, true
	}
	pts := durationTS(at, p.vtb)
	dts := pts
	if pkt.Dts() != astiav.NoPtsValue {
		dts = pts - durationTS(wall.Sub(dwall), p.vtb)
	}
	if dts <= p.lastDTS {
		// Segments meet on the recorder's timeline within a fraction of
		// a frame: keep decode times increasing.
		shift := p.lastDTS + 1 - dts
		dts += shift
		pts += shift
	}
	p.lastDTS = dts
	pkt.SetStreamIndex(p.vs.Index())
	pkt.SetPts(pts)
	pkt.SetDts(dts)
	pkt.SetDuration(durationTS(p.frameD, p.vtb))
	pkt.SetPos(-1)
	if err := p.out.WriteInterleavedFrame(pkt); err != nil {
		return p.fail("write video packet", err)
	}
	p.info.Frames++
	if end := wall.Add(p.frameD); end.After(p.info.End) {
		p.info.End = end
	}
	return nil
}

// outAt is where wall time t falls on the stream's timeline.
func (p *player) outAt(t time.Time) time.Duration { return t.Sub(p.base) }

// closeCue writes the open time cue, ending at at.
func (p *player) closeCue(at time.Duration) error {
	if !p.cueOpen {
		return nil
	}
	p.cueOpen = false
	return p.cue(p.cueFrom, at, CaptionText(p.cueSec, p.o.Location))
}

// hole writes the card for footage missing from from to to, shown on the
// stream's timeline from start to stop.
func (p *player) hole(from, to time.Time, start, stop time.Duration) error {
	reason, most := "no footage", time.Duration(0)
	for _, g := range p.o.Gaps {
		lo, hi := later(g.From, from), earlier(g.To, to)
		if d := hi.Sub(lo); d > most {
			reason, most = g.Reason, d
		}
	}
	g := PlayGap{From: from, To: to, Reason: reason}
	p.info.Holes = append(p.info.Holes, g)
	return p.cue(start, stop, HoleText(g, p.o.Location))
}

// HoleText is the card shown over a hole in the footage:
// "NO RECORDING 10:03:12–10:04:40 GMT (reason)".
func HoleText(g PlayGap, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	from, to := g.From.In(loc), g.To.In(loc)
	span := from.Format("15:04:05") + "–" + to.Format("15:04:05 MST")
	if from.YearDay() != to.YearDay() || from.Year() != to.Year() {
		span = from.Format("2006-01-02 15:04:05") + "–" + to.Format("2006-01-02 15:04:05 MST")
	}
	return fmt.Sprintf("NO RECORDING %s (%s)", span, g.Reason)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// cue writes one subtitle shown from start to stop on the stream's timeline.
func (p *player) cue(start, stop time.Duration, text string) error {
	start = max(start, p.subStop)
	if stop <= start {
		return nil
	}
	p.subStop = stop
	if err := p.spkt.FromData([]byte(text)); err != nil {
		return fmt.Errorf("subtitle packet: %w", err)
	}
	defer p.spkt.Unref()
	ms := astiav.NewRational(1, 1000)
	p.spkt.SetStreamIndex(p.ss.Index())
	p.spkt.SetPts(durationTS(start, ms))
	p.spkt.SetDts(durationTS(start, ms))
	p.spkt.SetDuration(durationTS(stop-start, ms))
	p.spkt.SetFlags(astiav.NewPacketFlags(astiav.PacketFlagKey))
	if err := p.out.WriteInterleavedFrame(p.spkt); err != nil {
		return p.fail("write subtitle packet", err)
	}
	p.info.Cues++
	return nil
}

// finish writes the last cues (a hole up to the end of the window
// included) and the trailer, and flushes.
func (p *player) finish() error {
	end := p.outAt(p.info.End)
	if err := p.closeCue(end); err != nil {
		return err
	}
	if p.o.To.Sub(p.info.End) >= holeMin {
		if err := p.hole(p.info.End, p.o.To, end, end+p.o.HoleShown); err != nil {
			return err
		}
	}
	if err := p.out.WriteTrailer(); err != nil {
		return p.fail("write trailer", err)
	}
	p.pb.Flush()
	if p.sink.err != nil {
		return p.fail("flush", p.sink.err)
	}
	return nil
}

func (p *player) free() {
	if p.spkt != nil {
		p.spkt.Free()
	}
	if p.out != nil {
		p.out.Free()
	}
	if p.pb != nil {
		p.pb.Free()
	}
	p.sink.w = nil
}
