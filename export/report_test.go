package export_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/store"
)

// recordMinutes writes and seals n one-minute segments of camera from
// start, as the recorder does with its default segment length.
func (f *fixture) recordMinutes(camera string, start time.Time, n int) {
	f.t.Helper()
	aus, err := longClip()
	if err != nil {
		f.t.Fatal(err)
	}
	for s := range n {
		begin := start.Add(time.Duration(s) * time.Minute)
		w, err := f.st.CreateSegment(camera, begin, "h264")
		if err != nil {
			f.t.Fatal(err)
		}
		m, err := media.NewTSMuxer(w, media.H264)
		if err != nil {
			f.t.Fatal(err)
		}
		for i, au := range aus {
			ts := int64(90000 + i*90000/fps)
			if err := m.WriteFrame(media.JoinAnnexB(nil, au.NALUs), ts, ts, au.Key); err != nil {
				f.t.Fatal(err)
			}
		}
		if err := m.Close(); err != nil {
			f.t.Fatal(err)
		}
		if _, err := w.Seal(store.SealInfo{End: begin.Add(time.Minute), Frames: int64(len(aus)), TimeSource: "arrival", ClockOffset: -340 * time.Millisecond, CameraClock: true}); err != nil {
			f.t.Fatal(err)
		}
	}
}

var longClip = func() func() ([]media.AccessUnit, error) {
	var aus []media.AccessUnit
	var err error
	done := false
	return func() ([]media.AccessUnit, error) {
		if !done {
			aus, err = media.EncodeClip(media.EncodeConfig{Codec: media.H264, Width: 320, Height: 240, FPS: fps, GOP: fps, Bitrate: 100_000}, 60*fps)
			done = true
		}
		return aus, err
	}
}()

// TestReport_PrintsOnFourPages prints the exhibit report of a one-minute
// export of two cameras (one with a gap) with headless Chromium, as a user
// would from a browser, and judges the PDF with poppler: at most four A4
// pages, and the statements a court expects are there, with commands and
// hashes unbroken.
func TestReport_PrintsOnFourPages(t *testing.T) {
	testutil.NeedTools(t, "chromium", "pdfinfo", "pdftotext")
	f := newFixture(t)
	f.recordMinutes("front-desk", t0, 2)
	f.recordMinutes("lobby", t0, 1)
	if err := f.st.AddGap(store.Gap{Camera: "lobby", From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute), Reason: "connection refused", Recorded: t0}); err != nil {
		t.Fatal(err)
	}
	from := t0.Add(30 * time.Second)
	r := f.request(from, from.Add(time.Minute), "front-desk", "lobby")
	r.Stills = []time.Time{from.Add(10 * time.Second)}
	r.ClockConfirmed = &export.Confirmation{At: t0.Add(-48 * time.Hour), By: "Jane Supervisor (jsuper)"}
	pkg, err := export.Build(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	pdf := filepath.Join(t.TempDir(), "report.pdf")
	cmd := exec.Command("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
		"--user-data-dir="+t.TempDir(), "--print-to-pdf="+pdf, "file://"+filepath.Join(pkg, "report.html"))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	info := run(t, ".", "pdfinfo", pdf)
	pm := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindStringSubmatch(info)
	if pm == nil {
		t.Fatalf("pdfinfo:\n%s", info)
	}
	pages, _ := strconv.Atoi(pm[1])
	if !strings.Contains(info, "(A4)") {
		t.Errorf("not A4:\n%s", info)
	}
	t.Logf("report of a one-minute two-camera export: %d A4 pages", pages)
	if pages > 4 {
		t.Errorf("the report prints on %d A4 pages, want at most 4", pages)
	}
	text := run(t, ".", "pdftotext", "-layout", pdf, "-")
	flat := strings.Join(strings.Fields(text), " ")
	m := readManifest(t, pkg)
	for _, want := range []string{
		"CCTV exhibit report: exhibit AB/1",
		"Case reference WMP-22112026/0042",
		"Produced by Joe Bloggs (login jbloggs)",
		"Producer's statement",
		"I, Joe Bloggs (login jbloggs)",
		"This statement is true to the best of my knowledge and belief",
		"Continuity",
		"This package was made on recorder kid-csc-01",
		"Time statement",
		"was last confirmed as correct by Jane Supervisor (jsuper) at 2026-11-20 14:00:00 GMT (2026-11-20 14:00:00 UTC)",
		"the recorder's clock at the moment each picture arrived",
		"the camera's clock was 0.340 s behind the recorder's",
		"GMT (Greenwich Mean Time, the same as UTC) in winter, BST (British Summer Time, UTC plus one hour) in summer",
		"The recordings cover only part of the window asked for.",
		"2026-11-22 14:01:00 GMT to 2026-11-22 14:01:30 GMT: the recorder logged: connection refused",
		"Glossary",
		"ssh-keygen -Y verify -f allowed_signers -I kid-csc-01 -n cctv-evidence -s SHA256SUMS.sig < SHA256SUMS",
		"cctv-verify PACKAGE --fingerprint " + f.key.Fingerprint(),
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the printed report lacks %q", want)
		}
	}
	for _, fl := range m.Files {
		if fl.Path != "report.html" && !strings.Contains(text, fl.SHA256) { // the report cannot hold its own hash
			t.Errorf("the printed report lacks the hash of %s unbroken on one line", fl.Path)
		}
	}
	if testing.Verbose() {
		t.Logf("pdftotext:\n%s", text)
	}
}
