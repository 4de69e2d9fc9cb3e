package recorder

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/council/cctv/internal/codec"
	"github.com/council/cctv/internal/mpegts"
	"github.com/council/cctv/store"
)

// Time source recorded in each seal: the box clock at the arrival of the
// session's first keyframe, carried forward by the camera's RTP clock (see
// segmenter). The camera's RTCP clock is only measured (Seal.CameraClock).
const sourceArrival = "arrival"

// Segment flags recorded in seals.
const (
	flagTimeUntrusted = "time-untrusted"
	flagClockJump     = "clock-jump"
)

// frame is one access unit on its way from the RTSP reader to the segment
// writer. Frames are recycled through a free list so that the steady state
// allocates nothing per frame.
type frame struct {
	data    []byte // Annex-B access unit
	pts     int64  // 90 kHz on the session's RTP timeline, offset to stay positive
	dts     int64
	key     bool
	arrival time.Time // box wall clock at arrival
	mono    time.Time // monotonic clock at arrival (time.Now), for jump detection
	ntp     time.Time // camera wall clock from RTCP sender reports
	hasNTP  bool
	lost    int64 // RTP packets lost since the previous frame
	dropped int64 // access units dropped since the previous frame
}

// errBadTiming means a frame's timestamps would break the muxer (decode
// time not after the previous frame's, or presentation before decode): it
// is an input error, the frame is dropped and the stream resumes at the
// next keyframe.
var errBadTiming = errors.New("frame timestamps out of order")

// inputError is a muxer failure caused by the camera's data, not by the
// storage: the segment is salvaged and recording carries on.
type inputError struct{ err error }

func (e *inputError) Error() string { return "camera data: " + e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// Re-anchoring thresholds: when a segment opens, its time on the session's
// RTP timeline is compared with the box clock at arrival. A frame arrives
// after it was captured, so the timeline may run a little behind; more than
// reanchorBehind behind (the camera's clock runs slow, or its timestamps
// jumped) or reanchorAhead ahead, the timeline is anchored afresh at the
// box clock, never before the end of the footage already written.
const (
	reanchorBehind = 5 * time.Second
	reanchorAhead  = time.Second
)

// seamReach is how far a segment's end reaches to meet the next one's start
// on the same timeline (see close).
const seamReach = time.Second

// segmenter writes access units of one camera session into consecutive
// segments, cutting on the first keyframe after the target length. It owns
// the open segment file; only the session's writer goroutine calls it.
//
// Creation: with a sealer, a segment's file is created (store.CreateSegment:
// directory, file and open entry made durable before a byte is written) on
// a goroutine of its own, and the segment's frames are held in memory, in
// order, until it exists; they are written at the first frame or sync tick
// after. At 64 cameras on a loaded two-core box creation took seconds at
// start-up, and a writer that waited for it let its queue overflow (issue
// 14). Nothing is written before the file and its open entry are durable,
// so a crash is recovered as before; at most holdMax bytes are held, and
// frames beyond are dropped and counted until the next keyframe after the
// file exists. A segment is never cut while its own file is being created.
//
// Time: every frame is filed on one timeline per session: the box clock at
// the arrival of the session's first keyframe, carried forward by the
// camera's RTP timestamps, so consecutive segments meet exactly and RTCP
// sender reports arriving (late, or never) change nothing. The camera's
// own clock is recorded per segment as a measured offset. The timeline
// never starts before floor (the end of the camera's previous footage).
type segmenter struct {
	store    *store.Store
	camera   string
	codec    codec.Codec
	target   time.Duration
	log      *slog.Logger
	untrusts func(time.Time) bool // reports whether a box time is plainly wrong
	floor    time.Time            // footage of this camera ends here so far
	first    time.Duration        // target of the session's first segment; 0: target
	sealer   *sealer              // seals finished segments; nil: inline (and create inline)
	holdMax  int                  // bytes of frames held while a file is created; 0: defaultHold

	w   *store.SegmentWriter
	mux *mpegts.Writer // kept across segments (its buffer is reused); valid while w is set

	anchored   bool
	pre        []frame // the session's first frames, held until the timeline is anchored
	anchorWall time.Time
	anchorPTS  int64
	reanchor   bool // anchor afresh at the next segment (the box clock jumped)

	start      time.Time // wall time of the first frame
	startPTS   int64
	maxPTS     int64
	lastDTS    int64
	frameDur   int64 // frame interval: smallest PTS distance seen between recent frames, 90 kHz
	recent     [8]int64
	nRecent    int
	frames     int64
	leading    int64 // frames shown before the first keyframe (open GOP)
	startDTS   int64
	minLag     time.Duration // least arrival-minus-timeline of the segment's frames
	lagKnown   bool
	lost       int64
	dropped    int64
	pendLost   int64 // counted while no segment is open, for the next one
	pendDrop   int64
	dropTail   bool // frames were dropped since the last one written
	offset     time.Duration
	camClock   bool
	flags      []string
	cutPending bool          // cut at the next keyframe whatever the length
	curTarget  time.Duration // target length of the open segment
	nextFlags  []string      // flags for the next segment (clock jump)
	act        activity      // the open segment's activity, stored with its seal

	creating bool          // the open segment's file is being created (create); its frames are held
	created  chan creation // the creation's result; capacity 1, made once
	held     []heldFrame   // frames of the open segment waiting for its file, in order
	heldBuf  []byte        // their bytes
	skipKey  bool          // the hold overflowed: drop frames until a keyframe once the file exists
	holdDrop int64         // frames dropped because the hold was full, in this creation
	attached time.Time     // start of a segment whose file has come to exist, until takeOpened
}

// creation is the outcome of creating a segment's file off the writer.
type creation struct {
	w   *store.SegmentWriter
	err error
}

// heldFrame is a frame held while its segment's file is created: its bytes
// end at end in heldBuf, and start where the one before ends.
type heldFrame struct {
	end      int
	pts, dts int64
	key      bool
}

// defaultHold is the default limit of bytes a writer holds while a file is
// created: half a minute of a 4 Mbit/s camera, 1 GiB at most for 64 cameras
// whose disk stalls at once. At 64 cameras start-up creation took up to
// 18 s on a loaded box (issue 14); writers held 3.4 MB at most. Memory is
// taken only while a creation is slow (see keptHold).
const defaultHold = 16 << 20

// keptHold is the largest hold buffer kept for the next creation: in
// steady state a creation takes tens of milliseconds and holds a frame or
// two (at 64 cameras: one frame of 53-89 kB, for 40 ms), and reusing the
// buffer allocates nothing; a buffer grown by a slow creation is let go
// (at 64 cameras' start-up each held 175 frames, 2.2 MB, median, and 3.4
// MB at most).
const keptHold = 256 << 10

// errHoldFull means a frame was dropped because the frames held while its
// segment's file is created reached holdMax: the frames after it are
// dropped until a keyframe.
var errHoldFull = errors.New("frames held for a segment being created reached the limit")

// opened reports whether a segment is being written to its file.
func (s *segmenter) opened() bool { return s.w != nil }

// live reports whether a segment is open, its file created or not yet.
func (s *segmenter) live() bool { return s.w != nil || s.creating }

// at maps a PTS to wall time on the session's timeline.
func (s *segmenter) at(pts int64) time.Time {
	return s.anchorWall.Add(time.Duration(pts-s.anchorPTS) * time.Second / 90000)
}

// anchor sets the timeline so that pts falls at t.
func (s *segmenter) anchor(t time.Time, pts int64) {
	s.anchored, s.anchorWall, s.anchorPTS, s.reanchor = true, t.UTC(), pts, false
}

// countLoss adds losses to the open segment (they happened before the
// frame being written, after the last one written), or keeps them for the
// next segment.
func (s *segmenter) countLoss(lost, dropped int64) {
	if !s.live() {
		s.pendLost += lost
		s.pendDrop += dropped
		return
	}
	s.lost += lost
	s.dropped += dropped
	if dropped > 0 {
		s.dropTail = true
	}
}

// write adds one access unit, opening and cutting segments as needed. It
// returns the wall time of the first frame of a segment whose file has
// come to exist since the last call that returned one (zero otherwise),
// so the caller can close a gap: never for frames only held in memory. A frame whose timestamps
// would break the muxer is refused with errBadTiming; a muxer failure that
// is not the storage's is an *inputError (the segment is then closed).
func (s *segmenter) write(f *frame) (opened time.Time, err error) {
	if !s.anchored && (len(s.pre) > 0 || f.key) {
		return s.preroll(f)
	}
	return s.writeFrame(f)
}

// prerollFor is how much of a session's start (from its first keyframe)
// is held in memory before the session's timeline is anchored.
const prerollFor = time.Second

// preroll holds the frames of the session's first second, then anchors the
// timeline and writes them. The box clock files footage by when frames
// arrive, but the first ones often arrive late (a camera sends what its
// encoder queued while the session was set up, a loaded machine delivers
// in bursts): anchored at the first keyframe's arrival, everything after
// would be filed that much late. The least-delayed frame of the first
// second says best when the keyframe would have arrived: the timeline
// puts it there. Frames arrive in decode order, so delays are measured
// against decode times.
func (s *segmenter) preroll(f *frame) (time.Time, error) {
	hf := *f
	hf.data = append([]byte(nil), f.data...) // f is recycled; only a session's first second is copied
	s.pre = append(s.pre, hf)
	if time.Duration(f.dts-s.pre[0].dts)*time.Second/90000 < prerollFor && len(s.pre) < 128 {
		return time.Time{}, nil
	}
	return s.flushPreroll()
}

// flushPreroll anchors the timeline on the held frames and writes them.
func (s *segmenter) flushPreroll() (opened time.Time, err error) {
	if len(s.pre) == 0 {
		return time.Time{}, nil
	}
	pre := s.pre
	s.pre = nil
	key := pre[0]
	t := key.arrival
	for _, f := range pre[1:] {
		if c := f.arrival.Add(-time.Duration(f.dts-key.dts) * time.Second / 90000); c.Before(t) {
			t = c
		}
	}
	s.anchor(t, key.pts)
	for i := range pre {
		o, err := s.writeFrame(&pre[i])
		if errors.Is(err, errBadTiming) {
			continue // dropped and counted; the ones after still go in
		}
		if err != nil {
			return opened, err
		}
		if opened.IsZero() {
			opened = o
		}
	}
	return opened, nil
}

// writeFrame adds one access unit once the timeline is anchored.
func (s *segmenter) writeFrame(f *frame) (opened time.Time, err error) {
	if err := s.settle(false); err != nil {
		return time.Time{}, err
	}
	s.countLoss(f.lost, f.dropped)
	if f.pts < f.dts || (s.live() && f.dts <= s.lastDTS) {
		s.countLoss(0, 1)
		return time.Time{}, errBadTiming
	}
	if s.w != nil && f.key && (s.cutPending || s.elapsed(f.pts) >= s.curTarget) {
		next := s.at(f.pts)
		slewed := s.slew(next)
		if _, err := s.close(slewed); err != nil {
			return time.Time{}, err
		}
		if !slewed.Equal(next) {
			s.anchor(slewed, f.pts)
		}
	}
	if !s.live() {
		if !f.key {
			s.countLoss(0, 1)
			return time.Time{}, nil // wait for a keyframe: every file starts on one
		}
		if err := s.open(f); err != nil {
			return time.Time{}, err
		}
	}
	if s.skipKey {
		if s.creating || !f.key {
			s.countLoss(0, 1)
			return time.Time{}, errHoldFull
		}
		s.skipKey = false
	}
	if s.creating {
		if !s.hold(f) {
			s.countLoss(0, 1)
			s.skipKey = true
			s.holdDrop++
			return time.Time{}, errHoldFull
		}
	} else if err := s.mux.WriteFrame(f.data, f.pts, f.dts, f.key); err != nil {
		if s.w.Err() == nil {
			err = &inputError{err}
		}
		return time.Time{}, fmt.Errorf("write frame: %w", err)
	}
	s.noteStep(f.pts)
	s.act.add(s.elapsed(f.pts), len(f.data), f.key)
	// Frames arrive in decode order: the delay is measured against the
	// decode time, shifted by the keyframe's reordering.
	if lag := f.arrival.Sub(s.at(f.dts + s.startPTS - s.startDTS)); !s.lagKnown || lag < s.minLag {
		s.minLag, s.lagKnown = lag, true
	}
	if f.pts < s.startPTS {
		s.leading++ // shown before the keyframe the segment starts with
	}
	s.maxPTS = max(s.maxPTS, f.pts)
	s.lastDTS = f.dts
	s.dropTail = false
	s.frames++
	if f.hasNTP {
		s.offset, s.camClock = f.ntp.Sub(s.at(f.pts)), true
	}
	return s.takeOpened(), nil
}

// takeOpened returns the start of a segment whose file has come to exist
// since the last call (zero if none).
func (s *segmenter) takeOpened() time.Time {
	t := s.attached
	s.attached = time.Time{}
	return t
}

// noteStep keeps the frame interval: the smallest distance between the
// presentation times of recent frames. Frames arrive in decode order, so
// with B-frames consecutive ones are not neighbours on screen: each is
// compared with the last few.
func (s *segmenter) noteStep(pts int64) {
	for _, p := range s.recent[:min(s.nRecent, len(s.recent))] {
		d := pts - p
		if d < 0 {
			d = -d
		}
		if d > 0 && (s.frameDur == 0 || d < s.frameDur) {
			s.frameDur = d
		}
	}
	s.recent[s.nRecent%len(s.recent)] = pts
	s.nRecent++
}

// slew returns where the segment starting at next (on the timeline) should
// start so that the timeline keeps following the box clock. A camera's RTP
// clock runs a little fast or slow against the box's (crystals differ by
// tens of ppm: seconds a day), so a long session's timeline would drift
// ahead of the box clock without end, or fall behind until re-anchored.
// The least delay with which the segment's frames arrived measures the
// drift; at each cut the timeline moves towards it by at most half a frame
// interval, which the seam absorbs (the segment's last frame shows that
// much longer or shorter), so nothing overlaps and no hole opens. Half a
// frame per segment follows several hundred ppm. (Working copies keep
// whole frame intervals across such seams: media.WriteClip.)
func (s *segmenter) slew(next time.Time) time.Time {
	if !s.lagKnown || s.frameDur <= 0 || s.cutPending {
		return next // a clock jump anchors afresh instead
	}
	step := time.Duration(s.frameDur) * time.Second / 90000 / 2
	d := min(max(s.minLag, -step), step)
	if d > -time.Millisecond && d < time.Millisecond {
		return next
	}
	// Never before the last frame shown has had half its interval.
	if floor := s.at(s.maxPTS).Add(step); next.Add(d).Before(floor) {
		return floor
	}
	return next.Add(d)
}

func (s *segmenter) elapsed(pts int64) time.Duration {
	return time.Duration(pts-s.startPTS) * time.Second / 90000
}

func (s *segmenter) open(f *frame) error {
	arrival := f.arrival.UTC()
	jump := slices.Contains(s.nextFlags, flagClockJump)
	switch {
	case !s.anchored || s.reanchor:
		s.anchor(arrival, f.pts)
	case s.at(f.pts).Sub(arrival) > reanchorAhead || arrival.Sub(s.at(f.pts)) > reanchorBehind:
		// Anchor afresh at the box clock, but never before the footage
		// already written: a timeline running ahead can only be held.
		t := arrival
		if t.Before(s.floor) {
			t = s.floor
		}
		if d := t.Sub(s.at(f.pts)); d > time.Millisecond || d < -time.Millisecond {
			s.log.Info("timeline anchored afresh", "by", d.Round(time.Millisecond).String())
			if d > 0 && !s.floor.IsZero() && t.After(s.floor) {
				// The camera's timestamps fell behind the box clock: the
				// time skipped is a gap on record, not an unexplained hole.
				if err := s.store.AddGap(store.Gap{Camera: s.camera, From: s.floor, To: t,
					Reason: fmt.Sprintf("timeline re-anchored: the camera's timestamps fell %s behind the recorder's clock", d.Round(time.Millisecond))}); err != nil {
					s.log.Error("record re-anchoring gap", "err", err)
				}
			}
			s.anchor(t, f.pts)
		}
	}
	if s.at(f.pts).Before(s.floor) && !jump {
		s.anchor(s.floor, f.pts) // never before footage already written
	}
	start := s.at(f.pts)
	if s.sealer != nil {
		s.create(start)
	} else {
		w, err := createSegment(s.store, s.camera, start, s.codec.String())
		if err != nil {
			return fmt.Errorf("create segment: %w", err)
		}
		if err := s.attach(w); err != nil {
			return err
		}
	}
	s.curTarget = s.target
	if s.first > 0 {
		s.curTarget, s.first = s.first, 0
	}
	s.start, s.startPTS, s.maxPTS = start, f.pts, f.pts
	s.act.reset()
	s.frames, s.leading = 0, 0 // frameDur carries over: a one-frame segment still has a length
	s.startDTS, s.lagKnown = f.dts, false
	s.lost, s.dropped, s.pendLost, s.pendDrop = s.pendLost, s.pendDrop, 0, 0
	s.offset, s.camClock = 0, false
	s.flags = append(s.flags[:0], s.nextFlags...)
	s.nextFlags = s.nextFlags[:0]
	s.cutPending, s.dropTail, s.skipKey = false, false, false
	if s.untrusts(f.arrival) {
		s.flags = append(s.flags, flagTimeUntrusted)
	}
	if !s.creating {
		s.attached = s.start
	}
	return nil
}

// testOnlyBeforeCreate, if set (by tests, before recording starts), runs
// just before a segment's file is created, where the creation runs: a test
// holds creation up with it as a loaded disk and index would, or fails it
// with the error it returns.
var testOnlyBeforeCreate func(camera string) error

func createSegment(st *store.Store, camera string, start time.Time, codec string) (*store.SegmentWriter, error) {
	if testOnlyBeforeCreate != nil {
		if err := testOnlyBeforeCreate(camera); err != nil {
			return nil, err
		}
	}
	return st.CreateSegment(camera, start, codec)
}

// create starts creating the open segment's file off the writer; settle
// takes the result.
func (s *segmenter) create(start time.Time) {
	if s.created == nil {
		s.created = make(chan creation, 1)
	}
	s.creating, s.holdDrop = true, 0
	st, camera, codec, created := s.store, s.camera, s.codec.String(), s.created
	go func() {
		w, err := createSegment(st, camera, start, codec)
		created <- creation{w, err}
	}()
}

func (s *segmenter) holdLimit() int {
	if s.holdMax <= 0 {
		return defaultHold
	}
	return s.holdMax
}

// hold keeps a copy of f until the open segment's file exists, and
// reports false if that would pass the limit. The segment's first frame
// (its keyframe) is always held, so that the file starts with it.
func (s *segmenter) hold(f *frame) bool {
	if len(s.held) > 0 && len(s.heldBuf)+len(f.data) > s.holdLimit() {
		return false
	}
	s.heldBuf = append(s.heldBuf, f.data...)
	s.held = append(s.held, heldFrame{end: len(s.heldBuf), pts: f.pts, dts: f.dts, key: f.key})
	return true
}

// dropHeld forgets the held frames, keeping their buffer unless a slow
// creation grew it.
func (s *segmenter) dropHeld() {
	s.held = s.held[:0]
	s.heldBuf = s.heldBuf[:0]
	if cap(s.heldBuf) > keptHold {
		s.held, s.heldBuf = nil, nil
	}
}

// settle takes the result of the open segment's creation if it has come
// (with wait, once it comes), points the muxer at the new file and writes
// the frames held for it. An error is the creation's, or a write's as from
// writeFrame; the held frames are gone either way.
func (s *segmenter) settle(wait bool) error {
	if !s.creating {
		return nil
	}
	var c creation
	if wait {
		c = <-s.created
	} else {
		select {
		case c = <-s.created:
		default:
			return nil
		}
	}
	s.creating = false
	if s.holdDrop > 0 {
		s.log.Warn("segment file slow to create; frames beyond the hold limit dropped",
			"dropped", s.holdDrop, "limit_bytes", s.holdLimit())
	}
	if c.err != nil {
		s.dropHeld()
		return fmt.Errorf("create segment: %w", c.err)
	}
	if err := s.attach(c.w); err != nil {
		return err
	}
	s.attached = s.start
	return nil
}

// attach points the muxer at w, the open segment's new file, and writes
// the frames held while it was created.
func (s *segmenter) attach(w *store.SegmentWriter) error {
	defer s.dropHeld()
	st := mpegts.H264
	if s.codec == codec.H265 {
		st = mpegts.H265
	}
	var err error
	if s.mux == nil {
		s.mux, err = mpegts.NewWriter(w, st, mpegts.BufferSize)
	} else {
		err = s.mux.Reset(w, st)
	}
	if err != nil {
		s.drain()
		_, serr := w.Salvage(err)
		return errors.Join(fmt.Errorf("start muxer: %w", err), serr)
	}
	s.w = w
	s.log.Debug("segment opened", "segment", w.Path())
	from := 0
	for _, h := range s.held {
		if err := s.mux.WriteFrame(s.heldBuf[from:h.end], h.pts, h.dts, h.key); err != nil {
			if w.Err() == nil {
				err = &inputError{err}
			}
			return fmt.Errorf("write frame: %w", err)
		}
		from = h.end
	}
	return nil
}

// drain waits for the seals of the segments already finished, so that a
// salvage is chained after them.
func (s *segmenter) drain() {
	if s.sealer != nil {
		s.sealer.drain()
	}
}

// sync pushes muxed bytes to the file and has it fsynced: on the sealer's
// goroutine, so the writer never waits for the disk (without a sealer,
// here). A failed fsync comes back from a later write or flush.
func (s *segmenter) sync() error {
	if err := s.settle(false); err != nil {
		return err
	}
	if s.w == nil {
		return nil
	}
	if err := s.mux.Flush(); err != nil {
		return err
	}
	if s.sealer != nil {
		s.sealer.sync(s.w)
		return nil
	}
	return s.w.Sync()
}

// end is the wall time just after the last frame shown: the latest
// presentation time plus one frame.
func (s *segmenter) end() time.Time {
	return s.at(s.maxPTS + s.frameDur)
}

// close finishes the muxer and seals the segment. next, if not zero, is the
// time of the frame that starts the next segment on the same timeline: the
// end never passes it, so segments never overlap, and the segment reaches
// it, so they never leave a hole either. What lies between the last frame
// shown and next is the leading pictures of an open-GOP keyframe (sent
// after it, so in the next file, but shown before it), frames lost (counted
// in the seal), or a frame interval longer than the shortest: none of it is
// a hole in the recording. It returns the end time of what was sealed.
func (s *segmenter) close(next time.Time) (time.Time, error) {
	_, err := s.flushPreroll()
	if serr := s.settle(true); err == nil {
		err = serr
	}
	if err != nil {
		if s.w != nil {
			return s.fail(err), err
		}
		return time.Time{}, err
	}
	if s.w == nil {
		return time.Time{}, nil
	}
	w, mux := s.w, s.mux
	s.w = nil
	end := s.end()
	if !next.IsZero() && (next.Before(end) || s.dropTail || next.Sub(end) < seamReach) {
		end = next
	}
	s.floor = end
	if err := mux.Close(); err != nil {
		s.drain()
		_, serr := w.Salvage(err)
		return end, errors.Join(fmt.Errorf("finish segment: %w", err), serr)
	}
	info := store.SealInfo{
		End:           end,
		Frames:        s.frames,
		TimeSource:    sourceArrival,
		ClockOffset:   s.offset,
		CameraClock:   s.camClock,
		Flags:         append([]string(nil), s.flags...),
		LostPackets:   s.lost,
		DroppedFrames: s.dropped,
		LeadingFrames: s.leading,
		Activity:      s.act.encoded(),
	}
	if s.sealer != nil {
		s.sealer.add(w, info)
		return end, nil
	}
	rec, err := w.Seal(info)
	if err != nil && !errors.Is(err, store.ErrEmpty) {
		return end, fmt.Errorf("seal segment: %w", err)
	}
	if err == nil {
		s.log.Debug("segment sealed", "segment", rec.Seal.File, "frames", rec.Seal.Frames, "bytes", rec.Seal.Bytes)
	}
	return end, nil
}

// fail abandons the open segment after a write error: what reached the disk
// is kept and sealed as recovered.
func (s *segmenter) fail(cause error) time.Time {
	// A file still being created is waited for, so that it is not left
	// open: what it holds is salvaged with the rest. (The writer fails only
	// on a file that exists: while one is created its frames are held.)
	if err := s.settle(true); err != nil {
		s.log.Error("segment being created when writing failed", "err", err)
	}
	if s.w == nil {
		return time.Time{}
	}
	w, mux := s.w, s.mux
	s.w = nil
	end := s.end()
	s.floor = end
	mux.Close() // the writer already failed; what matters is what is on disk
	s.drain()   // the camera's earlier segments are sealed first
	switch _, err := w.Salvage(cause); {
	case errors.Is(err, store.ErrEmpty):
		s.log.Debug("nothing to salvage after write error", "segment", w.Path())
	case err != nil:
		// The store keeps it and SalvageAbandoned retries on the next session.
		s.log.Error("salvage segment after write error", "segment", w.Path(), "err", err)
	}
	return end
}

// markJump makes the next keyframe start a new segment flagged clock-jump,
// on a timeline anchored afresh at the box clock.
func (s *segmenter) markJump() {
	s.cutPending = true
	s.reanchor = true
	s.nextFlags = append(s.nextFlags[:0], flagClockJump)
}
