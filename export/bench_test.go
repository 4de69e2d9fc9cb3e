package export_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/export"
)

// BenchmarkBuild exports a window of 30 segments (2 minutes) and reports its
// throughput in MB/s of master bytes beside the floor of `cat masters |
// sha256sum` over the same files, measured in the same run.
func BenchmarkBuild(b *testing.B) {
	f := newFixture(b)
	const segs = 30
	f.record("front-desk", t0, segs)
	r := f.request(t0, t0.Add(segs*segLen), "front-desk")
	var total int64
	var paths []string
	for _, s := range r.Cameras[0].Segments {
		total += s.Bytes
		paths = append(paths, s.Path)
	}
	var catTime, buildTime time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if out, err := exec.Command("sh", "-c", "cat "+strings.Join(paths, " ")+" | sha256sum").CombinedOutput(); err != nil {
			b.Fatalf("cat | sha256sum: %v %s", err, out)
		}
		catTime += time.Since(start)

		start = time.Now()
		r.OutDir = b.TempDir()
		if _, err := export.Build(b.Context(), r); err != nil {
			b.Fatal(err)
		}
		buildTime += time.Since(start)
		if err := os.RemoveAll(r.OutDir); err != nil {
			b.Fatal(err)
		}
	}
	mb := float64(total) * float64(b.N) / 1e6
	b.ReportMetric(mb/buildTime.Seconds(), "export-MB/s")
	b.ReportMetric(mb/catTime.Seconds(), "cat-sha256sum-MB/s")
	b.ReportMetric(float64(total)/1e6, "MB/export")
}
