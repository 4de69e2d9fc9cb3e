package recorder

import (
	"time"

	"github.com/council/cctv/store"
)

// activity counts, for the open segment, the bytes of non-key frames in
// each second from its start: motion makes predicted frames larger, so the
// counts find the moments worth watching without decoding anything. It is
// a fixed array: counting allocates nothing.
type activity struct {
	secs [store.MaxActivitySeconds]int64
	n    int // seconds reached so far
}

// reset starts counting a new segment.
func (a *activity) reset() {
	clear(a.secs[:a.n])
	a.n = 0
}

// add counts a frame of size bytes shown at offset from the segment's
// start; keyframes and frames shown before the start are not counted.
func (a *activity) add(offset time.Duration, size int, key bool) {
	i := int(offset / time.Second)
	if i < 0 || i >= len(a.secs) {
		return
	}
	if i >= a.n {
		a.n = i + 1
	}
	if !key {
		a.secs[i] += int64(size)
	}
}

// encoded is the segment's activity as stored with its seal.
func (a *activity) encoded() []byte { return store.EncodeActivity(a.secs[:a.n]) }
