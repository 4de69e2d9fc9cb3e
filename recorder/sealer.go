package recorder

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/council/cctv/store"
)

// sealer seals a session's finished segments on a goroutine of its own, in
// the order they were finished, so the writer goes on taking frames while a
// segment is fsynced, its directory fsynced and its seal committed. Those
// steps wait for the disk and for the index, which every camera shares:
// when many cameras cut at once (they started together), a writer that
// sealed inline stalled for seconds, its queue overflowed and frames were
// dropped (issue 14). A session's seals still chain in order, and the
// session returns only after wait, so a camera's next session never seals
// ahead of its last one.
//
// The periodic fsync of the open segment runs here too (sync), beside the
// writer's writes: at 64 cameras the writers' own fsyncs held them up at
// start-up for seconds, and thousands of frames were dropped (issue 14).
type sealer struct {
	log  *slog.Logger
	jobs chan sealJob
	wg   sync.WaitGroup // the goroutine
	busy sync.WaitGroup // jobs queued or running

	syncQueued atomic.Bool // a sync job is queued and not yet started
	// syncFile fsyncs the open segment; tests replace it.
	syncFile func(*store.SegmentWriter) error

	mu  sync.Mutex
	err error // first seal error not yet taken
	// errc is signalled (never blocks) when err is set.
	errc chan struct{}
}

type sealJob struct {
	w    *store.SegmentWriter
	info store.SealInfo
	sync bool // fsync w, which is still being written; do not seal it
}

// sealQueue is how many finished segments may wait for their seal before
// the writer blocks: a few minutes of footage, far more than a stalled
// index should ever take.
const sealQueue = 4

func newSealer(log *slog.Logger) *sealer {
	s := &sealer{log: log, jobs: make(chan sealJob, sealQueue), errc: make(chan struct{}, 1),
		syncFile: (*store.SegmentWriter).Sync}
	s.wg.Add(1)
	go s.run()
	return s
}

func (s *sealer) run() {
	defer s.wg.Done()
	for j := range s.jobs {
		if j.sync {
			s.syncQueued.Store(false)
			// A failure poisons the writer: its next write (at the latest
			// the flush of the next sync tick) fails with it, and the
			// writer salvages the segment as after any write error.
			if err := s.syncFile(j.w); err != nil {
				s.log.Debug("fsync of the open segment failed", "segment", j.w.Path(), "err", err)
			}
		} else {
			s.seal(j)
		}
		s.busy.Done()
	}
}

// sync queues an fsync of w, the segment the writer is still writing,
// unless one is already waiting. It never blocks: when the seals ahead fill
// the queue the fsync is skipped, and the next tick asks again. Seal fsyncs
// every segment before committing it, whatever happened here.
func (s *sealer) sync(w *store.SegmentWriter) {
	if !s.syncQueued.CompareAndSwap(false, true) {
		return
	}
	s.busy.Add(1)
	select {
	case s.jobs <- sealJob{w: w, sync: true}:
	default:
		s.syncQueued.Store(false)
		s.busy.Done()
	}
}

func (s *sealer) seal(j sealJob) {
	rec, err := j.w.Seal(j.info)
	switch {
	case err == nil:
		s.log.Debug("segment sealed", "segment", rec.Seal.File, "frames", rec.Seal.Frames, "bytes", rec.Seal.Bytes)
	case errors.Is(err, store.ErrEmpty):
	default:
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
		select {
		case s.errc <- struct{}{}:
		default:
		}
	}
}

// add queues a finished segment for its seal. The writer hands w over: it
// must not touch it again.
func (s *sealer) add(w *store.SegmentWriter, info store.SealInfo) {
	s.busy.Add(1)
	s.jobs <- sealJob{w: w, info: info}
}

// drain waits until every queued segment is sealed (or has failed).
func (s *sealer) drain() { s.busy.Wait() }

// takeErr returns the first seal error since the last call, if any.
func (s *sealer) takeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.err
	s.err = nil
	return err
}

// close seals what is queued, stops the goroutine and returns the first
// seal error not yet taken. The session that made the sealer calls it once,
// before it returns.
func (s *sealer) close() error {
	close(s.jobs)
	s.wg.Wait()
	return s.takeErr()
}
