package recorder

import "testing"

// TestFramePool_AfterStall_KeepsOnlyWarmBuffers: a writer stall that put
// a hundred frames in flight leaves the pool holding buffers for no more
// than warmFrames of them once they come back, and the most recently
// returned frames keep theirs (the steady state reuses them).
func TestFramePool_AfterStall_KeepsOnlyWarmBuffers(t *testing.T) {
	var p framePool
	p.init(128)
	var inFlight []*frame
	for range 100 {
		f := p.get()
		f.data = make([]byte, 0, 20<<10)
		inFlight = append(inFlight, f)
	}
	for _, f := range inFlight {
		p.put(f)
	}
	kept := 0
	for _, f := range p.stack {
		if f.data != nil {
			kept++
		}
	}
	if kept != warmFrames {
		t.Errorf("%d frames keep a buffer after the stall, want %d", kept, warmFrames)
	}
	if top := p.get(); top.data == nil {
		t.Error("the most recently returned frame lost its buffer")
	}
}
