package export_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/export"
)

// exportWindow records n segments of one camera from start, exports
// [from, to) with captions in loc and checks: the caption cues hold want in
// that order, report.html holds every wantReport, the manifest's windows are
// the request's (in UTC), fully covered, and the package verifies.
func exportWindow(t *testing.T, loc *time.Location, start time.Time, n int, from, to time.Time, want, wantReport []string) {
	t.Helper()
	f := newFixture(t)
	f.record("gate", start, n)
	r := f.request(from, to, "gate")
	r.Location = loc
	pkg, err := export.Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	srt := run(t, pkg, "ffmpeg", "-nostdin", "-v", "error", "-i", filepath.Join(pkg, "video", "gate.mp4"), "-map", "0:s:0", "-f", "srt", "-")
	at := 0
	for _, w := range want {
		i := strings.Index(srt[at:], w)
		if i < 0 {
			t.Fatalf("captions lack %q after byte %d:\n%s", w, at, srt)
		}
		at += i + len(w)
	}
	report, err := os.ReadFile(filepath.Join(pkg, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wantReport {
		if !strings.Contains(string(report), w) {
			t.Errorf("report.html lacks %q", w)
		}
	}
	m := readManifest(t, pkg)
	if m.TimeZone != loc.String() || !m.From.Equal(from) || !m.To.Equal(to) || m.From.Location() != time.UTC {
		t.Errorf("manifest window %s %s to %s, want %s %s to %s", m.TimeZone, m.From, m.To, loc, from, to)
	}
	c := m.Cameras[0]
	if !c.Requested.From.Equal(from) || !c.Requested.To.Equal(to) || len(c.Covered) != 1 ||
		!c.Covered[0].From.Equal(from) || !c.Covered[0].To.Equal(to) || len(c.Uncovered) != 0 {
		t.Errorf("camera windows: requested %+v covered %+v uncovered %+v", c.Requested, c.Covered, c.Uncovered)
	}
	rep, err := export.Verify(pkg, export.VerifyOptions{Fingerprint: f.key.Fingerprint()})
	if err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}
}

func TestBuild_WindowAcrossMidnight_UTC(t *testing.T) {
	midnight := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	exportWindow(t, time.UTC, midnight.Add(-8*time.Second), 4, midnight.Add(-6*time.Second), midnight.Add(6*time.Second),
		[]string{"2026-11-22 23:59:58 UTC", "2026-11-22 23:59:59 UTC", "2026-11-23 00:00:00 UTC", "2026-11-23 00:00:05 UTC"},
		[]string{"2026-11-22 23:59:54 UTC", "2026-11-23 00:00:06 UTC"})
}

func TestBuild_WindowAcrossMidnight_London(t *testing.T) {
	// Midnight in London in summer is 23:00 UTC the day before.
	midnight := time.Date(2026, 7, 1, 0, 0, 0, 0, london)
	exportWindow(t, london, midnight.Add(-8*time.Second), 4, midnight.Add(-6*time.Second), midnight.Add(6*time.Second),
		[]string{"2026-06-30 23:59:58 BST", "2026-06-30 23:59:59 BST", "2026-07-01 00:00:00 BST", "2026-07-01 00:00:05 BST"},
		[]string{"2026-06-30 23:59:54 BST", "2026-07-01 00:00:06 BST"})
}

func TestBuild_WindowAcrossBSTToGMT(t *testing.T) {
	// At 01:00 UTC on 25 October 2026 London goes from 02:00 BST back to
	// 01:00 GMT: the hour from 01:00 local repeats. The third master (seal
	// Start 00:59:58, End 01:00:02 UTC) straddles the change.
	change := time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC)
	if got := change.Add(-time.Second).In(london).Format("15:04:05 MST"); got != "01:59:59 BST" {
		t.Fatalf("tzdata: %s", got)
	}
	exportWindow(t, london, change.Add(-10*time.Second), 5, change.Add(-5*time.Second), change.Add(7*time.Second),
		[]string{"2026-10-25 01:59:58 BST", "2026-10-25 01:59:59 BST", "2026-10-25 01:00:00 GMT", "2026-10-25 01:00:01 GMT", "2026-10-25 01:00:06 GMT"},
		[]string{"2026-10-25 01:59:55 BST", "2026-10-25 01:00:07 GMT"})
}
