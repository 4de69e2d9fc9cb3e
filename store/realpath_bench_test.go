package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
)

// BenchmarkIndexRealPath records 64 cameras × one-minute segments through
// the recorder's own calls (CreateSegment, Write, Seal: one transaction
// each, cameras interleaved as they are live) and reports the index's pages
// per live segment, the figure BenchmarkIndexYears' bulk builder must match:
// bbolt splits a page at the bucket's fill percent, so appends in the middle
// of the keyspace (each camera's newest entry) leave pages as full as that.
// Retention is half the minutes recorded, and runs every minute, so the
// second half is the steady state of a box that deletes what it records.
// CCTV_REALPATH_MINUTES sets the minutes recorded (default 60).
//
//	go test ./store -run '^$' -bench IndexRealPath -benchtime 1x
func BenchmarkIndexRealPath(b *testing.B) {
	minutes := 60
	if v, err := strconv.Atoi(os.Getenv("CCTV_REALPATH_MINUTES")); err == nil && v > 0 {
		minutes = v
	}
	const nCams = 64
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "data")
		if err := store.Init(dir, storetest.BoxID); err != nil {
			b.Fatal(err)
		}
		clk := &fakeClock{now: from}
		s, err := store.Open(dir, store.Options{BoxID: storetest.BoxID, Signer: newBenchSigner(), Clock: clk})
		if err != nil {
			b.Fatal(err)
		}
		s.TestOnlyNoSync()
		frame := make([]byte, 188)
		perSecond := make([]int64, 60)
		for i := range perSecond {
			perSecond[i] = int64(20000 + 997*i)
		}
		activity := store.EncodeActivity(perSecond)
		policy := store.RetentionPolicy{Default: time.Duration(minutes/2) * time.Minute}
		for m := range minutes {
			start := from.Add(time.Duration(m) * time.Minute)
			clk.Set(start.Add(time.Minute))
			for c := range nCams {
				w, err := s.CreateSegment(fmt.Sprintf("cam%02d", c), start, "h264")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(frame); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Seal(store.SealInfo{End: start.Add(time.Minute), Frames: 1500, TimeSource: "rtcp", CameraClock: true, Activity: activity}); err != nil {
					b.Fatal(err)
				}
			}
			if _, _, err := s.ApplyRetention(start.Add(time.Minute), policy, 0); err != nil {
				b.Fatal(err)
			}
		}
		liveBytes, live, err := s.IndexStatsForTest()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(liveBytes)/float64(live), "index-bytes/live-segment")
	}
}
