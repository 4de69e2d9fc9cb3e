package store_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/internal/tsscan/tstest"
	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
)

func actionKinds(acts []store.RecoveryAction) []string {
	var out []string
	for _, a := range acts {
		out = append(out, a.Kind)
	}
	slices.Sort(out)
	return out
}

func (e *env) recover(t *testing.T, s *store.Store, known ...string) []store.RecoveryAction {
	t.Helper()
	return e.audited(t, s, s.Recover, known)
}

// reconcile runs Reconcile and checks its actions' audit entries.
func (e *env) reconcile(t *testing.T, s *store.Store, known ...string) []store.RecoveryAction {
	t.Helper()
	return e.audited(t, s, s.Reconcile, known)
}

func (e *env) audited(t *testing.T, s *store.Store, run func([]string) ([]store.RecoveryAction, error), known []string) []store.RecoveryAction {
	t.Helper()
	before, err := s.AuditSize()
	if err != nil {
		t.Fatal(err)
	}
	acts, err := run(known)
	if err != nil {
		t.Fatal(err)
	}
	// Every action has its audit entry, with the same camera, path and detail.
	var audited []store.RecoveryAction
	entries, err := s.AuditEntries(store.AuditFilter{Action: "recovery."})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range entries {
		if a.Seq >= before {
			if a.User == "" || a.Result != "ok" {
				t.Errorf("recovery entry %+v", a)
			}
			audited = append(audited, store.RecoveryAction{Kind: strings.TrimPrefix(a.Action, "recovery."),
				Camera: a.Params["camera"], Path: a.Params["path"], Detail: a.Params["detail"]})
		}
	}
	if !slices.Equal(audited, acts) {
		t.Errorf("recovery actions %+v\naudited as %+v", acts, audited)
	}
	return acts
}

func writeFile(t *testing.T, dir, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

// Crash point: open entry with a file torn mid-packet.
func TestRecover_OpenEntryTornFile(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	storetest.WriteSegment(t, s, "cam", t0.Add(-10*time.Second), 25)
	w, err := s.CreateSegment("cam", t0, "h264")
	if err != nil {
		t.Fatal(err)
	}
	ts := tstest.Build(tstest.Options{Frames: 50})
	torn := len(ts) - 90 // the last frame's last packet is cut
	if _, err := w.Write(ts[:torn]); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := w.TestOnlyAbandon(); err != nil { // kill -9
		t.Fatal(err)
	}
	_ = s.Close()

	s = e.open(t)
	if vs := e.check(t, s, false); !slices.Equal(kinds(vs), []string{"unsealed"}) {
		t.Fatalf("before recovery: %v", vs)
	}
	e.clk.Set(t0.Add(time.Minute))
	acts := e.recover(t, s, "cam")
	if !slices.Equal(actionKinds(acts), []string{"recovered"}) {
		t.Fatalf("actions %+v", acts)
	}
	segs, err := s.Segments("cam", t0, t0.Add(time.Hour))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %+v %v", segs, err)
	}
	sl := segs[0].Seal
	// The torn last frame is cut off with its partial packet (issue 10): 49
	// whole frames remain, ending where the 50th started.
	if sl.State != store.SealRecovered || sl.Bytes >= int64(torn/188*188) || sl.Bytes%188 != 0 || sl.Frames != 49 ||
		!sl.End.Equal(t0.Add(1960*time.Millisecond)) || sl.Seq != 2 || !slices.Contains(sl.Flags, "crash") ||
		!slices.Contains(sl.Flags, "truncated") {
		t.Fatalf("seal %+v", sl)
	}
	gaps, _ := s.Gaps("cam", t0, t0.Add(time.Hour))
	if len(gaps) != 1 || gaps[0].Reason != "crash" || !gaps[0].From.Equal(sl.End) || !gaps[0].To.Equal(t0.Add(time.Minute)) {
		t.Fatalf("gaps %+v", gaps)
	}
	e.mustClean(t, s)
	if acts := e.recover(t, s, "cam"); len(acts) != 0 {
		t.Fatalf("second Recover did %+v", acts)
	}
}

// Crash point: open entry whose file holds no whole frame, or no file at all.
func TestRecover_OpenEntryEmpty(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	w1, _ := s.CreateSegment("cam", t0, "h264")
	_, _ = w1.Write(tstest.Build(tstest.Options{Frames: 1})[:100])
	_ = w1.TestOnlyAbandon()
	w2, _ := s.CreateSegment("cam", t0.Add(time.Second), "h264")
	_ = w2.TestOnlyAbandon()
	_ = os.Remove(w2.Path())
	_ = s.Close()

	s = e.open(t)
	acts := e.recover(t, s, "cam")
	if !slices.Equal(actionKinds(acts), []string{"removed-empty", "removed-empty"}) {
		t.Fatalf("actions %+v", acts)
	}
	if _, err := os.Stat(w1.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("empty file kept")
	}
	e.mustClean(t, s)
}

// Crash point: files on disk that the index does not know.
func TestRecover_UnknownFiles(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	storetest.WriteSegment(t, s, "cam", t0.Add(-time.Minute), 25)
	good := "segments/cam/2026-11-22/cam_20261122T140000.000Z.ts"
	writeFile(t, e.dir, good, tstest.Build(tstest.Options{Frames: 50}))
	writeFile(t, e.dir, "segments/cam/2026-11-22/cam_20261122T140005.000Z.ts", []byte("not video at all, but somebody's file"))
	writeFile(t, e.dir, "segments/ghost/2026-11-22/ghost_20261122T140000.000Z.ts", tstest.Build(tstest.Options{Frames: 5}))
	writeFile(t, e.dir, "segments/cam/notes.txt", []byte("hello"))
	writeFile(t, e.dir, "segments/cam/2026-11-22/cam_20261122T140009.000Z.ts", nil)

	acts := e.recover(t, s, "cam")
	want := []string{"adopted", "quarantined", "quarantined", "quarantined", "removed-empty"}
	if !slices.Equal(actionKinds(acts), want) {
		t.Fatalf("actions %+v", acts)
	}
	segs, _ := s.Segments("cam", t0, t0.Add(time.Hour))
	if len(segs) != 1 || segs[0].File != good || segs[0].State != store.SealAdopted || segs[0].TimeSource != "filename" ||
		segs[0].Frames != 50 || !segs[0].End.Equal(t0.Add(2*time.Second)) || segs[0].Seq != 2 {
		t.Fatalf("adopted %+v", segs)
	}
	for _, q := range []string{
		"quarantine/segments/cam/2026-11-22/cam_20261122T140005.000Z.ts",
		"quarantine/segments/ghost/2026-11-22/ghost_20261122T140000.000Z.ts",
		"quarantine/segments/cam/notes.txt",
	} {
		if _, err := os.Stat(filepath.Join(e.dir, q)); err != nil {
			t.Errorf("not quarantined: %v", err)
		}
	}
	e.mustClean(t, s)
}

// Crash point: an entry whose file was deleted behind the store's back.
func TestRecover_FileMissing(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	var recs []store.SealRecord
	for i := range 3 {
		recs = append(recs, storetest.WriteSegment(t, s, "cam", t0.Add(time.Duration(i)*time.Second), 25))
	}
	if err := os.Remove(filepath.Join(e.dir, recs[1].Seal.File)); err != nil {
		t.Fatal(err)
	}
	if vs := e.check(t, s, false); !slices.Equal(kinds(vs), []string{"missing-file"}) {
		t.Fatalf("before: %v", vs)
	}
	if acts := e.recover(t, s, "cam"); len(acts) != 0 {
		t.Fatalf("Recover reads no sealed entries, but did %+v", acts)
	}
	acts := e.reconcile(t, s, "cam")
	if !slices.Equal(actionKinds(acts), []string{"file-missing"}) {
		t.Fatalf("actions %+v", acts)
	}
	gaps, _ := s.Gaps("cam", t0, t0.Add(time.Hour))
	if len(gaps) != 1 || gaps[0].Reason != "file-missing" || !gaps[0].From.Equal(recs[1].Seal.Start) || !gaps[0].To.Equal(recs[1].Seal.End) {
		t.Fatalf("gaps %+v", gaps)
	}
	ds, _ := s.Disposals("cam", t0, t0.Add(time.Hour))
	if len(ds) != 1 || ds[0].Why != "file-missing" || ds[0].SHA256 != recs[1].Seal.SHA256 {
		t.Fatalf("disposals %+v", ds)
	}
	e.mustClean(t, s)
}

// Crash points inside DisposeSegment.
func TestRecover_InterruptedDisposal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		unlink bool
	}{{"after mark", false}, {"after unlink", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.open(t)
			a := storetest.WriteSegment(t, s, "cam", t0, 25)
			storetest.WriteSegment(t, s, "cam", t0.Add(time.Second), 25)
			if err := s.TestOnlyCrashDispose("cam", t0, "retention", tc.unlink); err != nil {
				t.Fatal(err)
			}
			_ = s.Close()
			s = e.open(t)
			if vs := e.check(t, s, true); len(vs) != 0 {
				t.Fatalf("a disposing entry is not a violation: %v", vs)
			}
			acts := e.recover(t, s, "cam")
			if !slices.Equal(actionKinds(acts), []string{"disposed"}) {
				t.Fatalf("actions %+v", acts)
			}
			if _, err := os.Stat(filepath.Join(e.dir, a.Seal.File)); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("file survived")
			}
			ds, _ := s.Disposals("cam", t0, t0.Add(time.Hour))
			if len(ds) != 1 || ds[0].Why != "retention" {
				t.Fatalf("disposals %+v", ds)
			}
			if err := s.DisposeSegment("cam", t0, "retention"); err != nil {
				t.Fatalf("idempotent after recovery: %v", err)
			}
			// The deletion finished by Recover is audited as one, once.
			ents, _ := s.AuditEntries(store.AuditFilter{Action: "segment.dispose"})
			if len(ents) != 1 || ents[0].Params["file"] != a.Seal.File || ents[0].Params["why"] != "retention" ||
				ents[0].Params["sha256"] != a.Seal.SHA256 {
				t.Fatalf("dispose entries %+v", ents)
			}
			e.mustClean(t, s)
		})
	}
}

// Recovery of a real, torn x264 file.
func TestRecover_FFmpegTorn(t *testing.T) {
	testutil.NeedTool(t, "ffmpeg")
	src := filepath.Join(t.TempDir(), "in.ts")
	out, err := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "testsrc=size=160x120:rate=25", "-t", "2", "-c:v", "libx264", "-g", "25", "-bf", "0",
		"-f", "mpegts", src).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	ts, _ := os.ReadFile(src)
	e := newEnv(t)
	s := e.open(t)
	// One whole file with no entry (adopted), one torn open segment (recovered).
	writeFile(t, e.dir, "segments/cam/2026-11-22/cam_20261122T130000.000Z.ts", ts)
	w, _ := s.CreateSegment("cam", t0, "h264")
	_, _ = w.Write(ts[:len(ts)-1000])
	_ = w.TestOnlyAbandon()
	_ = s.Close()
	s = e.open(t)
	acts := e.recover(t, s, "cam")
	if !slices.Equal(actionKinds(acts), []string{"adopted", "recovered"}) {
		t.Fatalf("actions %+v", acts)
	}
	segs, _ := s.Segments("cam", time.Time{}, t0.Add(time.Hour))
	if len(segs) != 2 || segs[0].Frames != 50 || !segs[0].End.Equal(t0.Add(-time.Hour+2*time.Second)) ||
		segs[1].Frames < 40 || segs[1].Frames >= 50 || segs[1].Bytes%188 != 0 {
		t.Fatalf("segments %+v", segs)
	}
	e.mustClean(t, s)
}

// Crash orphans: a file created with O_EXCL whose open entry never
// committed is in the camera's newest day directory, where Recover finds
// it; an unknown file in an old day directory is Reconcile's.
func TestRecover_OrphanInNewestDay(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	for i := range 3 { // three days of one segment each; the newest is t0's day
		e.write(t, s, "cam", t0.Add(time.Duration(i-2)*day), 25)
	}
	orphan := "segments/cam/2026-11-22/cam_20261122T140100.000Z.ts"
	writeFile(t, e.dir, orphan, tstest.Build(tstest.Options{Frames: 50}))
	empty := "segments/cam/2026-11-22/cam_20261122T140200.000Z.ts"
	writeFile(t, e.dir, empty, nil)
	next := "segments/cam/2026-11-23/cam_20261123T000000.000Z.ts" // a day with no entry yet
	writeFile(t, e.dir, next, tstest.Build(tstest.Options{Frames: 25}))
	old := "segments/cam/2026-11-20/cam_20261120T150000.000Z.ts"
	writeFile(t, e.dir, old, tstest.Build(tstest.Options{Frames: 25}))
	_ = s.Close()

	s = e.open(t)
	acts := e.recover(t, s, "cam")
	if !slices.Equal(actionKinds(acts), []string{"adopted", "adopted", "removed-empty"}) {
		t.Fatalf("Recover: %+v", acts)
	}
	for _, a := range acts {
		if a.Path == old {
			t.Fatalf("Recover looked at an old day directory: %+v", a)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, empty)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("empty orphan kept")
	}
	acts = e.reconcile(t, s, "cam")
	if len(acts) != 1 || acts[0].Kind != "adopted" || acts[0].Path != old {
		t.Fatalf("Reconcile: %+v", acts)
	}
	e.mustClean(t, s)
	if acts := e.reconcile(t, s, "cam"); len(acts) != 0 {
		t.Fatalf("second Reconcile did %+v", acts)
	}
}
