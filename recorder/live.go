package recorder

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/council/cctv/internal/codec"
)

// LiveFrame is one access unit of a camera, as it was recorded, for a live
// viewer.
type LiveFrame struct {
	Camera int // index into the cameras the Viewer watches
	Codec  codec.Codec
	Data   []byte // Annex-B; shared between viewers: read only
	PTS    int64  // 90 kHz on the camera session's timeline
	DTS    int64
	Key    bool
	// Arrival is when the frame reached the recorder (box clock).
	Arrival time.Time
}

// Viewer receives the live frames of some cameras on C, through a bounded
// buffer. Recording never waits for a viewer: a viewer whose buffer is full
// when a frame comes is dropped (C is closed and Dropped reports true).
// Close it when done.
type Viewer struct {
	// C delivers the frames; it is closed when the viewer is dropped or
	// closed.
	C <-chan LiveFrame

	ch      chan LiveFrame
	mu      sync.Mutex
	closed  bool
	dropped atomic.Bool
	outs    []*fanout
}

// Dropped reports whether the viewer was dropped for not keeping up.
func (v *Viewer) Dropped() bool { return v.dropped.Load() }

// offer hands f to the viewer without waiting, or drops the viewer.
func (v *Viewer) offer(f LiveFrame) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	select {
	case v.ch <- f:
	default:
		v.closed = true
		v.dropped.Store(true)
		close(v.ch)
	}
}

// Close stops the frames. It is idempotent.
func (v *Viewer) Close() {
	v.mu.Lock()
	if !v.closed {
		v.closed = true
		close(v.ch)
	}
	v.mu.Unlock()
	for _, f := range v.outs {
		f.remove(v)
	}
}

// fanout hands a camera's frames to its viewers. With no viewer, publish
// costs one atomic load.
type fanout struct {
	n    atomic.Int32
	mu   sync.Mutex
	subs []liveSub
}

type liveSub struct {
	v   *Viewer
	idx int
}

func (f *fanout) add(v *Viewer, idx int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, liveSub{v, idx})
	f.n.Store(int32(len(f.subs)))
}

func (f *fanout) remove(v *Viewer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = slices.DeleteFunc(f.subs, func(s liveSub) bool { return s.v == v })
	f.n.Store(int32(len(f.subs)))
}

// publish offers a written frame to every viewer. It never blocks: the
// frame is copied once and shared.
func (f *fanout) publish(fr *frame, c codec.Codec) {
	if f.n.Load() == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	lf := LiveFrame{Codec: c, Data: bytes.Clone(fr.data), PTS: fr.pts, DTS: fr.dts, Key: fr.key, Arrival: fr.arrival}
	for _, s := range f.subs {
		lf.Camera = s.idx
		s.v.offer(lf)
	}
}

// Watch starts a live view of cameras (ids), with room for buffer frames
// in all. Frames come as the recorder writes them, from each camera's next
// frame on.
func (r *Recorder) Watch(cameras []string, buffer int) (*Viewer, error) {
	ch := make(chan LiveFrame, max(buffer, 1))
	v := &Viewer{C: ch, ch: ch}
	for i, id := range cameras {
		j := slices.IndexFunc(r.cameras, func(c *Camera) bool { return c.cfg.ID == id })
		if j < 0 {
			v.Close()
			return nil, fmt.Errorf("watch: no camera %q is recorded", id)
		}
		f := &r.cameras[j].live
		v.outs = append(v.outs, f)
		f.add(v, i)
	}
	return v, nil
}
