package recorder

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/council/cctv/store"
)

// TestSegmenter_Sync_WriterNeverWaitsForFsync: the periodic fsync of the
// open segment runs on the session's sealer, beside the writer (issue 14:
// at 64 cameras writers that fsynced inline were held up for seconds at
// start-up and dropped thousands of frames). While one fsync hangs the
// writer goes on writing, at most one more is queued behind it however
// many ticks pass, and the seal waits for both and keeps every frame.
func TestSegmenter_Sync_WriterNeverWaitsForFsync(t *testing.T) {
	in := newIngest(t)
	var calls atomic.Int32
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	in.seg.sealer.syncFile = func(w *store.SegmentWriter) error {
		calls.Add(1)
		entered <- struct{}{}
		<-release
		return w.Sync()
	}
	in.gopOnce(t) // preroll held, then the segment opens
	in.settle(t)  // its file is created off the writer
	in.gopOnce(t)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no fsync reached the sealer")
	}
	// The fsync hangs, as on a disk busy with 63 other cameras. The writer
	// goes on: five more GOPs, each ending in a sync tick.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5 {
			in.gopOnce(t)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the writer waited for the hanging fsync")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d fsyncs started while the first hung, want 1", n)
	}
	frames := in.seg.frames
	end := in.t0.Add(time.Duration(in.frame) * 40 * time.Millisecond)
	close(release)
	if _, err := in.seg.close(time.Time{}); err != nil {
		t.Fatal(err)
	}
	in.seg.sealer.drain()
	if n := calls.Load(); n != 2 {
		t.Errorf("%d fsyncs in all, want 2: the hung one and one queued behind it", n)
	}
	segs, err := in.seg.store.Segments("alloc", in.t0.Add(-time.Hour), end.Add(time.Hour))
	if err != nil || len(segs) != 1 || segs[0].Frames != frames {
		t.Fatalf("segments %+v (%v), want one sealed with %d frames", segs, err, frames)
	}
}
