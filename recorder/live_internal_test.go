package recorder

import (
	"testing"
	"time"

	"github.com/council/cctv/internal/codec"
)

// With no viewer, publishing a frame costs nothing; a viewer whose buffer
// is full is dropped at once (its channel closed), never waited for, and
// the others go on receiving.
func TestFanout_Publish_DropsFullViewerNeverBlocks(t *testing.T) {
	r := &Recorder{cameras: []*Camera{{cfg: CameraConfig{ID: "a"}}, {cfg: CameraConfig{ID: "b"}}}}
	f := &frame{data: []byte{0, 0, 0, 1, 0x65}, pts: 9000, dts: 9000, key: true, arrival: time.Now()}
	if n := testing.AllocsPerRun(100, func() { r.cameras[0].live.publish(f, codec.H264) }); n != 0 {
		t.Errorf("publish with no viewer allocates %.0f times", n)
	}
	slow, err := r.Watch([]string{"a"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	both, err := r.Watch([]string{"a", "b"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer both.Close()
	for range 3 {
		r.cameras[0].live.publish(f, codec.H264)
	}
	r.cameras[1].live.publish(f, codec.H264)
	if !slow.Dropped() {
		t.Error("a viewer with a full buffer was not dropped")
	}
	n := 0
	for range slow.C { // closed: ends after what it had
		n++
	}
	if n != 2 {
		t.Errorf("dropped viewer got %d frames, want its buffer's 2", n)
	}
	if len(both.C) != 4 || both.Dropped() {
		t.Errorf("the other viewer has %d frames (dropped %v), want 4", len(both.C), both.Dropped())
	}
	if lf := <-both.C; lf.Camera != 0 || !lf.Key || string(lf.Data) != string(f.data) {
		t.Errorf("first live frame %+v", lf)
	}
	if _, err := r.Watch([]string{"nope"}, 1); err == nil {
		t.Error("watching an unknown camera")
	}
	slow.Close()
	slow.Close() // idempotent
	if r.cameras[0].live.n.Load() != 1 {
		t.Errorf("%d viewers of camera a after the slow one closed, want 1", r.cameras[0].live.n.Load())
	}
}
