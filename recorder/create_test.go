//go:build cgo

package recorder_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
)

// holdCreation makes the first segment creation wait, where it runs, until
// the test releases it: a disk and index loaded by 63 other cameras, as at
// start-up at 64 cameras (issue 14: 5.5 s median, 18 s at worst). It
// returns a channel closed when the creation is being held, and release,
// which the test must also register as a cleanup after starting the
// recorder (a recorder stopping waits for the creation).
func holdCreation(t *testing.T) (held <-chan struct{}, release func()) {
	t.Helper()
	h, r := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	restore := recorder.SetTestOnlyBeforeCreate(func(string) error {
		if calls.Add(1) == 1 {
			close(h)
			<-r
		}
		return nil
	})
	var released atomic.Bool
	release = func() {
		if released.CompareAndSwap(false, true) {
			close(r)
		}
	}
	t.Cleanup(func() { release(); restore() })
	return h, release
}

// seiCounters returns the frame counters of the SEI units synthcam put in
// every frame of the segment, in order.
func seiCounters(t *testing.T, s store.Segment) []uint64 {
	t.Helper()
	es := elementaryStream(t, s.Path, "h264")
	var out []uint64
	for {
		i := bytes.Index(es, synthcam.SEIUUID[:])
		if i < 0 {
			return out
		}
		// The counter follows the UUID, with emulation-prevention bytes.
		raw := bytes.ReplaceAll(es[i+16:min(len(es), i+16+16)], []byte{0, 0, 3}, []byte{0, 0})
		out = append(out, binary.BigEndian.Uint64(raw[:8]))
		es = es[i+16:]
	}
}

// TestRecorder_SlowSegmentCreation_NoFrameDropped: while a segment's file
// is being created for longer than the camera's queue holds (here four
// times over), the writer goes on taking frames, holds them and writes
// them once the file exists: no frame is dropped, every frame the camera
// sent after the first keyframe is on disk in order, and every segment
// decodes cleanly (issue 14: a writer that waited for creation at
// start-up dropped 13,316 frames at 64 cameras).
func TestRecorder_SlowSegmentCreation_NoFrameDropped(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{})
	cam := h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25, SEI: true})
	held, release := holdCreation(t)
	const queue = 32 // 1.3 s
	rec, stop := h.start(recorder.Options{
		Cameras:     []recorder.CameraConfig{{ID: "desk", URL: h.cams.URL("desk")}},
		QueueFrames: queue,
	})
	t.Cleanup(release)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no segment creation within 30 s")
	}
	from := cam.FramesSent()
	waitFor(t, "four queues' worth of frames sent while the creation is held", 30*time.Second, func() bool {
		return cam.FramesSent() >= from+4*queue
	})
	release()
	waitFor(t, "two segments sealed after the held one", 60*time.Second, func() bool { return len(h.segments("desk")) >= 3 })
	stop()

	hl := healthOf(rec, "desk")
	if hl.Dropped != 0 || hl.LostPackets != 0 {
		t.Errorf("dropped %d frames, lost %d packets; want none", hl.Dropped, hl.LostPackets)
	}
	segs := h.segments("desk")
	if segs[0].Frames < 4*queue {
		t.Errorf("first segment has %d frames, want at least the %d sent while its file was created", segs[0].Frames, 4*queue)
	}
	var last uint64
	for i, s := range segs {
		if s.DroppedFrames != 0 || s.LostPackets != 0 {
			t.Errorf("%s: seal counts %d dropped frames, %d lost packets", s.File, s.DroppedFrames, s.LostPackets)
		}
		if i > 0 && !s.Start.Equal(segs[i-1].End) {
			t.Errorf("%s starts at %s, the segment before ends at %s", s.File, s.Start, segs[i-1].End)
		}
		if msg := ffmpegMessages(s.Path); msg != "" {
			t.Errorf("%s: ffmpeg: %s", s.File, msg)
		}
		counters := seiCounters(t, s)
		if int64(len(counters)) != s.Frames {
			t.Errorf("%s: %d frames on disk, seal says %d", s.File, len(counters), s.Frames)
		}
		for j, c := range counters {
			if (i > 0 || j > 0) && c != last+1 {
				t.Errorf("%s: frame %d follows frame %d", s.File, c, last)
			}
			last = c
		}
	}
}

// TestRecorder_SlowSegmentCreation_HoldLimitDropsUntilKeyframe: a creation
// that outlasts HoldBytes drops the frames beyond it, counts them in the
// camera's health and the segment's seal, and resumes at a keyframe once
// the file exists, so the segment still decodes cleanly.
func TestRecorder_SlowSegmentCreation_HoldLimitDropsUntilKeyframe(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{})
	cam := h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25, SEI: true})
	held, release := holdCreation(t)
	rec, stop := h.start(recorder.Options{
		Cameras:   []recorder.CameraConfig{{ID: "desk", URL: h.cams.URL("desk")}},
		HoldBytes: 32 << 10, // under a second at 500 kbit/s
	})
	t.Cleanup(release)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no segment creation within 30 s")
	}
	from := cam.FramesSent()
	waitFor(t, "three seconds of frames sent while the creation is held", 30*time.Second, func() bool {
		return cam.FramesSent() >= from+75
	})
	release()
	waitFor(t, "two segments sealed", 60*time.Second, func() bool { return len(h.segments("desk")) >= 2 })
	stop()

	hl := healthOf(rec, "desk")
	if hl.Dropped == 0 {
		t.Fatal("no frame counted dropped, though the creation outlasted the hold limit")
	}
	segs := h.segments("desk")
	var sealed int64
	for _, s := range segs {
		sealed += s.DroppedFrames
		if msg := ffmpegMessages(s.Path); msg != "" {
			t.Errorf("%s: ffmpeg: %s", s.File, msg)
		}
	}
	if segs[0].DroppedFrames == 0 {
		t.Errorf("first segment's seal counts no dropped frame")
	}
	if sealed < hl.Dropped {
		t.Errorf("seals count %d dropped frames, the camera's health %d", sealed, hl.Dropped)
	}
	// The frames held before the limit and those from the keyframe after
	// the file existed are on disk, in order.
	counters := seiCounters(t, segs[0])
	if int64(len(counters)) != segs[0].Frames {
		t.Errorf("%s: %d frames on disk, seal says %d", segs[0].File, len(counters), segs[0].Frames)
	}
	for j := 1; j < len(counters); j++ {
		if counters[j] <= counters[j-1] {
			t.Errorf("%s: frame %d after frame %d", segs[0].File, counters[j], counters[j-1])
		}
	}
}

// TestRecorder_SegmentCreationFails_GapStaysOpen: frames held while a
// segment's file is created are not footage until the file exists. When
// the creation fails, the camera's gap is not closed at the frames held:
// one gap record runs from the end of the footage before until the first
// segment that was written.
func TestRecorder_SegmentCreationFails_GapStaysOpen(t *testing.T) {
	h := newHarness(t, synthcam.ServerOptions{})
	h.addCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25})
	opts := recorder.Options{Cameras: []recorder.CameraConfig{{ID: "desk", URL: h.cams.URL("desk")}}}
	_, stop := h.start(opts)
	waitFor(t, "a segment", 30*time.Second, func() bool { return len(h.segments("desk")) >= 1 })
	stop()
	before := h.segments("desk")
	newest := before[len(before)-1].End

	var calls atomic.Int32
	restore := recorder.SetTestOnlyBeforeCreate(func(string) error {
		if calls.Add(1) == 1 {
			return errors.New("test: creation refused")
		}
		return nil
	})
	defer restore()
	_, stop = h.start(opts)
	waitFor(t, "a segment after the refused creation", 30*time.Second, func() bool {
		return len(h.segments("desk")) > len(before)
	})
	stop()
	if n := calls.Load(); n < 2 {
		t.Fatalf("%d creations, want the refused one and one after", n)
	}
	next := h.segments("desk")[len(before)]
	gaps, err := h.store.Gaps("desk", newest.Add(-time.Hour), next.Start.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !gapCovers(gaps, newest, next.Start) {
		t.Errorf("no gap record covers %s to %s, where nothing was written; gaps %+v", newest, next.Start, gaps)
	}
}
