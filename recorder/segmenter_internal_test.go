//go:build cgo

package recorder

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/store"
)

// TestSegmenter_Slew_FollowsBoxClock: a camera whose RTP clock runs 0.1 %
// slow or fast against the box clock (ten times a poor crystal) is filed
// by the box's clock over a long session: every segment starts within a
// frame of its arrival (less the network delay), consecutive segments meet
// exactly, and no gap is ever needed (issue 18: drift was re-anchored
// every 5 s of lag, leaving holes).
func TestSegmenter_Slew_FollowsBoxClock(t *testing.T) {
	aus, err := media.EncodeClip(media.EncodeConfig{Codec: media.H264, Width: 160, Height: 120, FPS: 25, GOP: 25, Bitrate: 100_000}, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ppm  float64 // how much longer a camera second lasts on the box clock
	}{
		{"camera clock slow", 1000},
		{"camera clock fast", -1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			key, err := boxkey.Init(filepath.Join(t.TempDir(), "key"))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Init(dir, "test-box"); err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(dir, store.Options{BoxID: "test-box", Signer: key})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			seg := &segmenter{store: st, camera: "drift", codec: media.H264, target: 4 * time.Second,
				log: slog.New(slog.NewTextHandler(io.Discard, nil)), untrusts: func(time.Time) bool { return false }}
			t0 := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
			const frames = 25 * 240 // four minutes: 240 ms of drift
			const delay = 50 * time.Millisecond
			type open struct{ start, arrived time.Time }
			var opens []open
			var buf []byte
			for i := range int64(frames) {
				au := aus[i%int64(len(aus))]
				capture := t0.Add(time.Duration(float64(i*40*int64(time.Millisecond)) * (1 + tc.ppm/1e6)))
				jitter := time.Duration(i*7919%23) * time.Millisecond
				f := &frame{data: media.JoinAnnexB(buf[:0], au.NALUs), pts: ptsOffset + i*3600, dts: ptsOffset + i*3600, key: au.Key,
					arrival: capture.Add(delay + jitter)}
				opened, err := seg.write(f)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !opened.IsZero() {
					opens = append(opens, open{opened, capture.Add(delay)})
				}
			}
			if _, err := seg.close(time.Time{}); err != nil {
				t.Fatal(err)
			}
			segs, err := st.Segments("drift", t0.Add(-time.Hour), t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			gaps, err := st.Gaps("drift", t0.Add(-time.Hour), t0.Add(time.Hour))
			if err != nil || len(gaps) != 0 {
				t.Errorf("gaps %+v (%v), want none", gaps, err)
			}
			if len(segs) < 50 {
				t.Fatalf("%d segments", len(segs))
			}
			for i, s := range segs {
				if i > 0 && !s.Start.Equal(segs[i-1].End) {
					t.Errorf("segment %d starts %s, the one before ends %s", i, s.Start, segs[i-1].End)
				}
			}
			// The timeline follows the least-delayed arrivals: it starts at
			// the first keyframe's arrival, which had no jitter.
			for _, o := range opens[len(opens)-10:] {
				if d := o.arrived.Sub(o.start); d < -40*time.Millisecond || d > 40*time.Millisecond {
					t.Errorf("segment at %s: its first frame arrived %s later (less the network delay)", o.start.Format("15:04:05.000"), d)
				}
			}
		})
	}
}
