package recorder

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/store"
)

// Time sources recorded in each seal.
const (
	sourceRTCP    = "rtcp"
	sourceArrival = "arrival"
)

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
	pts     int64  // 90 kHz, offset to stay positive
	dts     int64
	key     bool
	arrival time.Time // box wall clock at arrival
	ntp     time.Time // camera wall clock from RTCP sender reports
	hasNTP  bool
}

// segmenter writes access units of one camera session into consecutive
// segments, cutting on the first keyframe after the target length. It owns
// the open segment file; only the session's writer goroutine calls it.
type segmenter struct {
	store    *store.Store
	camera   string
	codec    media.Codec
	target   time.Duration
	log      *slog.Logger
	untrusts func(time.Time) bool // reports whether a box time is plainly wrong

	w   *store.SegmentWriter
	mux *media.TSMuxer

	start      time.Time // wall time of the first frame
	startPTS   int64
	lastPTS    int64
	frameDur   int64 // last PTS step, 90 kHz
	frames     int64
	source     string
	offset     time.Duration
	flags      []string
	cutPending bool     // cut at the next keyframe whatever the length
	nextFlags  []string // flags for the next segment (clock jump)
}

// opened reports whether a segment is being written.
func (s *segmenter) opened() bool { return s.w != nil }

// frameTime is the wall time the frame was captured: the camera's clock when
// it sends RTCP sender reports, else the box clock at arrival.
func frameTime(f *frame) (time.Time, string) {
	if f.hasNTP {
		return f.ntp.UTC(), sourceRTCP
	}
	return f.arrival.UTC(), sourceArrival
}

// write adds one access unit, opening and cutting segments as needed. It
// returns the wall time of the first frame of a segment it opened (zero
// otherwise), so the caller can close a gap.
func (s *segmenter) write(f *frame) (opened time.Time, err error) {
	if s.w != nil && f.key && (s.cutPending || s.elapsed(f.pts) >= s.target) {
		if _, err := s.close(); err != nil {
			return time.Time{}, err
		}
	}
	if s.w == nil {
		if !f.key {
			return time.Time{}, nil // wait for a keyframe: every file starts on one
		}
		if err := s.open(f); err != nil {
			return time.Time{}, err
		}
		opened = s.start
	}
	if err := s.mux.WriteFrame(f.data, f.pts, f.dts, f.key); err != nil {
		return opened, fmt.Errorf("write frame: %w", err)
	}
	if s.frames > 0 && f.pts > s.lastPTS {
		s.frameDur = f.pts - s.lastPTS
	}
	s.lastPTS = f.pts
	s.frames++
	if f.hasNTP {
		s.offset = f.ntp.Sub(f.arrival)
	}
	return opened, nil
}

func (s *segmenter) elapsed(pts int64) time.Duration {
	return time.Duration(pts-s.startPTS) * time.Second / 90000
}

func (s *segmenter) open(f *frame) error {
	start, source := frameTime(f)
	w, err := s.store.CreateSegment(s.camera, start, s.codec.String())
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	mux, err := media.NewTSMuxer(w, s.codec)
	if err != nil {
		_, serr := w.Salvage(err)
		return errors.Join(fmt.Errorf("start muxer: %w", err), serr)
	}
	s.w, s.mux = w, mux
	s.start, s.startPTS, s.lastPTS = start, f.pts, f.pts
	s.frames, s.frameDur = 0, 0
	s.source = source
	s.offset = 0
	s.flags = append(s.flags[:0], s.nextFlags...)
	s.nextFlags = s.nextFlags[:0]
	s.cutPending = false
	if s.untrusts(f.arrival) {
		s.flags = append(s.flags, flagTimeUntrusted)
	}
	s.log.Debug("segment opened", "segment", w.Path(), "time_source", source)
	return nil
}

// sync pushes muxed bytes to the file and fsyncs it.
func (s *segmenter) sync() error {
	if s.w == nil {
		return nil
	}
	if err := s.mux.Flush(); err != nil {
		return err
	}
	if err := s.w.Sync(); err != nil {
		return err
	}
	return nil
}

// end is the wall time just after the last frame written.
func (s *segmenter) end() time.Time {
	return s.start.Add(time.Duration(s.lastPTS-s.startPTS+s.frameDur) * time.Second / 90000)
}

// close finishes the muxer and seals the segment. It returns the end time of
// what was sealed.
func (s *segmenter) close() (time.Time, error) {
	if s.w == nil {
		return time.Time{}, nil
	}
	w, mux := s.w, s.mux
	s.w, s.mux = nil, nil
	end := s.end()
	if err := mux.Close(); err != nil {
		_, serr := w.Salvage(err)
		return end, errors.Join(fmt.Errorf("finish segment: %w", err), serr)
	}
	rec, err := w.Seal(store.SealInfo{
		End:         end,
		Frames:      s.frames,
		TimeSource:  s.source,
		ClockOffset: s.offset,
		Flags:       append([]string(nil), s.flags...),
	})
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
	if s.w == nil {
		return time.Time{}
	}
	w, mux := s.w, s.mux
	s.w, s.mux = nil, nil
	end := s.end()
	mux.Close() // the writer already failed; what matters is what is on disk
	switch _, err := w.Salvage(cause); {
	case errors.Is(err, store.ErrEmpty):
		s.log.Debug("nothing to salvage after write error", "segment", w.Path())
	case err != nil:
		// The store keeps it and SalvageAbandoned retries on the next session.
		s.log.Error("salvage segment after write error", "segment", w.Path(), "err", err)
	}
	return end
}

// markJump makes the next keyframe start a new segment flagged clock-jump.
func (s *segmenter) markJump() {
	s.cutPending = true
	s.nextFlags = append(s.nextFlags[:0], flagClockJump)
}
