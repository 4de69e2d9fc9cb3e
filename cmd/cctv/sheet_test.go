package main

import (
	"image"
	_ "image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A contact sheet has one tile per interval, four wide, with the instants
// without footage marked, and is audited as a view, not a disclosure.
func TestSheet_TilesAndAuditedAsView(t *testing.T) {
	b := newBox(t, "desk")
	d := b.startDaemon()
	defer stopDaemon(t, d)
	waitUntil(t, "two segments", 60*time.Second, func() bool {
		l := b.list(false)
		return len(l.Cameras) == 1 && len(l.Cameras[0].Segments) >= 2
	})
	segs := b.list(false).Cameras[0].Segments
	from := segs[0].Start.Add(500 * time.Millisecond)
	to := from.Add(12 * time.Second) // 6 tiles at 2 s; the last ones may be after the footage
	out := filepath.Join(t.TempDir(), "sheet.jpg")
	stdout := b.mustRun("sheet", "--camera", "desk", "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano),
		"--every", "2s", "--reason", "looking for the theft", "--out", out)
	if !strings.Contains(stdout, "thumbnails of camera desk") {
		t.Errorf("sheet said: %s", stdout)
	}
	if keep := os.Getenv("CCTV_SHEET_KEEP"); keep != "" { // to look at it
		copyFile(t, out, keep, 0o644)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil || format != "jpeg" {
		t.Fatalf("sheet is not a JPEG: %v", err)
	}
	// 4 columns of 320-pixel tiles and 4-pixel gutters; 6 tiles: 2 rows.
	if w := img.Bounds().Dx(); w != 4*(320+4)+4 {
		t.Errorf("sheet is %d pixels wide, want 4 tiles", w)
	}
	if h := img.Bounds().Dy(); h < 2*200 || h > 2*400 {
		t.Errorf("sheet is %d pixels high, want 2 rows of tiles", h)
	}
	if code, _, _ := b.run("sheet", "--camera", "desk", "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano), "--every", "2s", "--out", out); code != 2 {
		t.Errorf("a sheet over an existing file: exit %d", code)
	}
	if code, _, stderr := b.run("sheet", "--camera", "desk", "--from", from.Format(time.RFC3339Nano), "--to", from.Add(time.Hour).Format(time.RFC3339Nano),
		"--every", "1s", "--out", out+".2"); code != 2 || !strings.Contains(stderr, "at most 96") {
		t.Errorf("a sheet of 3600 tiles: exit %d: %s", code, stderr)
	}
	views, exports := 0, 0
	for _, e := range b.auditEntries() {
		switch e.Action {
		case "view":
			views++
			if e.Params["kind"] != "sheet" || e.Params["reason"] != "looking for the theft" || e.Params["camera"] != "desk" {
				t.Errorf("view entry %+v", e.Params)
			}
		case "export", "still":
			exports++
		}
	}
	if views != 1 || exports != 0 {
		t.Errorf("%d view and %d disclosure entries, want 1 view and no disclosure", views, exports)
	}
}
