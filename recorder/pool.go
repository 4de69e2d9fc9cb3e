package recorder

import "sync"

// framePool is a fixed set of frames shared by a session's reader and
// writer. It hands out the most recently returned frame first, so while the
// writer keeps up the same one or two buffers are reused and the rest are
// never grown: memory follows what is in flight, not the queue's capacity.
// Frames are allocated on first use; a buffer grown far beyond a typical
// access unit by a burst is let go when it comes back.
type framePool struct {
	mu    sync.Mutex
	stack []*frame
}

// maxKeptBuffer is the largest buffer kept for reuse (a large keyframe).
const maxKeptBuffer = 1 << 20

// warmFrames is how many of the most recently returned frames keep their
// buffers: more than a writer held up by a slow fsync for a second has in
// flight. A frame that sinks deeper (it was needed only while the writer
// was stalled for longer) lets its buffer go, so a stall of a few seconds
// does not leave the camera holding a hundred grown buffers for good
// (issue 14: 60 MB at 64 cameras after the start-up stalls).
const warmFrames = 32

func (p *framePool) init(n int) {
	p.stack = make([]*frame, n)
	for i := range p.stack {
		p.stack[i] = &frame{}
	}
}

// get returns a frame, or nil when every frame is in flight.
func (p *framePool) get() *frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.stack)
	if n == 0 {
		return nil
	}
	f := p.stack[n-1]
	p.stack = p.stack[:n-1]
	return f
}

// put returns a frame taken with get.
func (p *framePool) put(f *frame) {
	if cap(f.data) > maxKeptBuffer {
		f.data = nil
	}
	p.mu.Lock()
	p.stack = append(p.stack, f)
	if n := len(p.stack); n > warmFrames {
		p.stack[n-1-warmFrames].data = nil
	}
	p.mu.Unlock()
}
