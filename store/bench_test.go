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

// BenchmarkRetention_30Days64Cameras measures, on an index of 30 days × 64
// cameras × 60 s segments (2,764,800 entries, written directly, without
// files): one retention pass when one minute (64 segments, real empty files)
// expires (ns/op), a one-hour Segments query for one camera, Open, Open
// plus Recover (daemon start-up, on a clean index), the index size and how
// long building it took. CCTV_BENCH_DAYS scales the index.
//
//	go test ./store -run '^$' -bench Retention_30Days64Cameras -benchtime 200x
func BenchmarkRetention_30Days64Cameras(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 2.8-million-entry index")
	}
	days := 30
	if v, err := strconv.Atoi(os.Getenv("CCTV_BENCH_DAYS")); err == nil && v > 0 {
		days = v
	}
	const nCams = 64
	dir := filepath.Join(b.TempDir(), "data")
	if err := store.Init(dir, storetest.BoxID); err != nil {
		b.Fatal(err)
	}
	sig := storetest.NewSigner()
	clk := &fakeClock{}
	open := func() *store.Store {
		s, err := store.Open(dir, store.Options{BoxID: storetest.BoxID, Signer: sig, Clock: clk})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	s := open()
	var cams []string
	for i := range nCams {
		cams = append(cams, fmt.Sprintf("cam%02d", i))
	}
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	perCam := days * 24 * 60
	s.TestOnlyNoSync()
	genStart := time.Now()
	if err := s.BulkSealedForTest(cams, from, perCam, time.Minute, 12<<20); err != nil {
		b.Fatal(err)
	}
	gen := time.Since(genStart)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "index.db"))
	if err != nil {
		b.Fatal(err)
	}
	openStart := time.Now()
	s = open()
	openTime := time.Since(openStart)
	defer s.Close()
	if _, err := s.Recover(cams); err != nil { // start-up: Open + Recover
		b.Fatal(err)
	}
	recoverTime := time.Since(openStart)

	mid := from.Add(time.Duration(days) * 12 * time.Hour)
	qStart := time.Now()
	const queries = 100
	for i := range queries {
		segs, err := s.Segments(cams[i%nCams], mid, mid.Add(time.Hour))
		if err != nil || len(segs) != 60 {
			b.Fatalf("query: %d segments, %v", len(segs), err)
		}
	}
	query := time.Since(qStart) / queries

	p := store.RetentionPolicy{Default: time.Duration(days) * 24 * time.Hour}
	// Minute i of the index expires at now(i).
	now := func(i int) time.Time { return from.Add(time.Duration(i+1)*time.Minute + p.Default) }
	i := 0
	b.ResetTimer()
	for b.Loop() {
		if i >= perCam {
			b.Fatal("ran out of minutes: lower -benchtime")
		}
		b.StopTimer()
		start := from.Add(time.Duration(i) * time.Minute)
		for _, cam := range cams { // real, empty files for the 64 segments that expire
			p := filepath.Join(dir, "segments", cam, start.Format(time.DateOnly), cam+"_"+start.Format("20060102T150405.000")+"Z.ts")
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o640); err != nil {
				b.Fatal(err)
			}
		}
		clk.Set(now(i))
		b.StartTimer()
		deleted, _, err := s.ApplyRetention(now(i), p, 1000)
		if err != nil || len(deleted) != nCams {
			b.Fatalf("pass %d: deleted %d, %v", i, len(deleted), err)
		}
		i++
	}
	b.ReportMetric(float64(query.Nanoseconds()), "query-1h-ns")
	b.ReportMetric(float64(openTime.Milliseconds()), "open-ms")
	b.ReportMetric(float64(recoverTime.Microseconds())/1000, "recover-ms")
	b.ReportMetric(float64(fi.Size())/(1<<20), "index-MB")
	b.ReportMetric(gen.Seconds(), "build-s")
	b.ReportMetric(float64(nCams*perCam), "entries")
}
