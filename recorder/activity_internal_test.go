package recorder

import (
	"testing"
	"time"

	"github.com/council/cctv/store"
)

// Counting a frame allocates nothing; keyframes and frames outside the
// segment are not counted.
func TestActivity_Add_NoAllocCountsPredictedFrames(t *testing.T) {
	var a activity
	allocs := testing.AllocsPerRun(1000, func() {
		a.add(1500*time.Millisecond, 1000, false)
	})
	if allocs != 0 {
		t.Errorf("add allocates %.1f times per frame", allocs)
	}
	a.reset()
	a.add(0, 9999, true)
	a.add(200*time.Millisecond, 300, false)
	a.add(1200*time.Millisecond, 700, false)
	a.add(-time.Millisecond, 5, false)
	a.add(time.Hour, 5, false)
	enc := a.encoded()
	if len(enc) != 3 || store.ActivityBytes(enc[1]) < 280 || store.ActivityBytes(enc[1]) > 320 || store.ActivityBytes(enc[2]) < 650 {
		t.Errorf("encoded %v: want 2 seconds of about 300 and 700 bytes", enc)
	}
}
