package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// env is a data directory that tests can open, "crash" and reopen.
type env struct {
	dir string
	sig *storetest.Signer
	clk *fakeClock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: filepath.Join(t.TempDir(), "data"), sig: storetest.NewSigner(), clk: &fakeClock{now: t0.Add(time.Hour)}}
	if err := store.Init(e.dir, storetest.BoxID); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) open(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(e.dir, store.Options{BoxID: storetest.BoxID, Signer: e.sig, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() }) // idempotent; tests close explicitly to "crash"
	return s
}

func (e *env) check(t *testing.T, s *store.Store, deep bool) []store.Violation {
	t.Helper()
	vs, err := s.Check(deep, e.sig.Verify)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func (e *env) mustClean(t *testing.T, s *store.Store) {
	t.Helper()
	for _, v := range e.check(t, s, true) {
		t.Errorf("violation: %s", v)
	}
}

func (e *env) write(t *testing.T, s *store.Store, camera string, start time.Time, frames int) store.SealRecord {
	t.Helper()
	return storetest.WriteSegment(t, s, camera, start, frames)
}

func kinds(vs []store.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	slices.Sort(out)
	return out
}

func TestStore_SealAndQuery(t *testing.T) {
	s, sig := storetest.NewWithSigner(t)
	var recs []store.SealRecord
	for i := range 3 {
		recs = append(recs, storetest.WriteSegment(t, s, "front", t0.Add(time.Duration(i)*2*time.Second), 50))
	}
	storetest.WriteSegment(t, s, "back", t0, 25)

	for i, r := range recs {
		sl := r.Seal
		if sl.Seq != uint64(i+1) || sl.Box != storetest.BoxID || sl.State != store.SealSealed || sl.Version != 1 {
			t.Errorf("seal %d: %+v", i, sl)
		}
		if i == 0 && sl.Prev != "" || i > 0 && sl.Prev != recs[i-1].Seal.Hash() {
			t.Errorf("seal %d: prev %q does not link", i, sl.Prev)
		}
		if err := store.VerifySeal(r, sig.Verify); err != nil {
			t.Error(err)
		}
		if want := "segments/front/2026-11-22/front_20261122T14000" + string(rune('0'+2*i)) + ".000Z.ts"; sl.File != want {
			t.Errorf("file %q want %q", sl.File, want)
		}
		if sl.Bytes%188 != 0 || sl.Frames != 50 || len(sl.SHA256) != 64 {
			t.Errorf("seal %d: bytes %d frames %d", i, sl.Bytes, sl.Frames)
		}
	}

	tests := []struct {
		name     string
		from, to time.Time
		want     []uint64
	}{
		{"all", time.Time{}, t0.Add(time.Hour), []uint64{1, 2, 3}},
		{"inside first", t0.Add(time.Second), t0.Add(1500 * time.Millisecond), []uint64{1}},
		{"across boundary", t0.Add(3 * time.Second), t0.Add(5 * time.Second), []uint64{2, 3}},
		{"end exclusive", t0.Add(6 * time.Second), t0.Add(7 * time.Second), nil},
		{"before", t0.Add(-time.Hour), t0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			segs, err := s.Segments("front", tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, g := range segs {
				got = append(got, g.Seq)
				if _, err := os.Stat(g.Path); err != nil {
					t.Error(err)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got seqs %v want %v", got, tc.want)
			}
		})
	}
	oldest, newest, n, err := s.Span("front")
	if err != nil || !oldest.Equal(t0) || !newest.Equal(t0.Add(6*time.Second)) || n != 3 {
		t.Fatalf("span %v %v %d %v", oldest, newest, n, err)
	}
	cams, err := s.Cameras()
	if err != nil || !slices.Equal(cams, []string{"back", "front"}) {
		t.Fatalf("cameras %v %v", cams, err)
	}
}

func TestSeal_CanonicalRoundTrip(t *testing.T) {
	s := storetest.New(t)
	rec := storetest.WriteSegment(t, s, "cam", t0.Add(123456789*time.Nanosecond), 10)
	a, err := rec.Seal.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(rec)
	var back store.SealRecord
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	b, _ := back.Seal.Canonical()
	if !bytes.Equal(a, b) || back.Seal.Hash() != rec.Seal.Hash() {
		t.Fatalf("canonical JSON not stable:\n%s\n%s", a, b)
	}
	if !bytes.HasPrefix(a, []byte(`{"version":1,"box":"test-box","camera":"cam","seq":1,"file":`)) {
		t.Fatalf("field order: %s", a)
	}
}

func FuzzSealCanonical(f *testing.F) {
	f.Add([]byte(`{"version":1,"box":"b","camera":"c","seq":3,"start":"2026-11-22T14:00:00.5+01:00","flags":["x"]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s store.Seal
		if json.Unmarshal(data, &s) != nil {
			return
		}
		a, err := s.Canonical()
		if err != nil {
			return // e.g. a year outside [0,9999]
		}
		var s2 store.Seal
		if err := json.Unmarshal(a, &s2); err != nil {
			t.Fatalf("canonical output does not parse: %v", err)
		}
		b, err := s2.Canonical()
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("not stable:\n%s\n%s", a, b)
		}
	})
}

func TestSegmentWriter_WriteNoAlloc(t *testing.T) {
	s := storetest.New(t)
	w, err := s.CreateSegment("cam", t0, "h264")
	if err != nil {
		t.Fatal(err)
	}
	pkt := storetest.TS(1)[:188]
	if n := testing.AllocsPerRun(100, func() { _, _ = w.Write(pkt) }); n != 0 {
		t.Errorf("Write allocates %v times per call", n)
	}
	if _, err := w.Seal(store.SealInfo{End: t0.Add(time.Second), Frames: 1, TimeSource: "arrival"}); err != nil {
		t.Fatal(err)
	}
}

func TestSegmentWriter_Seal_Empty(t *testing.T) {
	s := storetest.New(t)
	for _, tc := range []struct {
		name   string
		data   []byte
		frames int64
	}{{"no bytes", nil, 0}, {"no frames", storetest.TS(3), 0}} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := s.CreateSegment("cam", t0, "h264")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Seal(store.SealInfo{End: t0, Frames: tc.frames}); !errors.Is(err, store.ErrEmpty) {
				t.Fatalf("got %v want ErrEmpty", err)
			}
			if _, err := os.Stat(w.Path()); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("file remains: %v", err)
			}
			if _, err := w.Seal(store.SealInfo{}); !errors.Is(err, store.ErrFinished) {
				t.Fatalf("second seal: %v", err)
			}
		})
	}
}

func TestCreateSegment_SameStartNeverOverwrites(t *testing.T) {
	s := storetest.New(t)
	a := storetest.WriteSegment(t, s, "cam", t0, 10)
	// The clock stepped back: the recorder flags such a segment clock-jump
	// (and check accepts its overlap with the one before).
	w, err := s.CreateSegment("cam", t0, "h264")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(storetest.TS(20)); err != nil {
		t.Fatal(err)
	}
	b, err := w.Seal(store.SealInfo{End: t0.Add(800 * time.Millisecond), Frames: 20, TimeSource: "arrival", Flags: []string{"clock-jump"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Seal.File == b.Seal.File || !strings.HasSuffix(b.Seal.File, "Z_1.ts") {
		t.Fatalf("files %q and %q", a.Seal.File, b.Seal.File)
	}
	segs, err := s.Segments("cam", t0, t0.Add(time.Minute))
	if err != nil || len(segs) != 2 || segs[0].Frames != 10 || segs[1].Frames != 20 {
		t.Fatalf("segments %+v %v", segs, err)
	}
	if b.Seal.Seq != 2 || b.Seal.Prev != a.Seal.Hash() {
		t.Fatal("chain does not continue")
	}
}

func TestSegmentWriter_Salvage(t *testing.T) {
	s := storetest.New(t)
	w, err := s.CreateSegment("cam", t0, "h264")
	if err != nil {
		t.Fatal(err)
	}
	ts := storetest.TS(25)
	torn := len(ts) - 100
	if _, err := w.Write(ts[:torn]); err != nil {
		t.Fatal(err)
	}
	rec, err := w.Salvage(&os.PathError{Op: "write", Path: w.Path(), Err: syscall.ENOSPC})
	if err != nil {
		t.Fatal(err)
	}
	sl := rec.Seal
	if sl.State != store.SealRecovered || sl.Bytes >= int64(torn/188*188) || sl.Frames != 24 || !slices.Contains(sl.Flags, "salvaged:ENOSPC") ||
		!slices.Contains(sl.Flags, "truncated") {
		t.Fatalf("seal %+v", sl)
	}
	if fi, _ := os.Stat(w.Path()); fi.Size() != sl.Bytes {
		t.Fatalf("size %d", fi.Size())
	}
}

func TestOpen_NoMarker(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(dir string)
	}{
		{"missing dir", func(string) {}},
		{"empty dir", func(dir string) { _ = os.Mkdir(dir, 0o750) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mnt")
			tc.setup(dir)
			before, _ := os.ReadDir(dir)
			_, err := store.Open(dir, store.Options{Signer: storetest.NewSigner()})
			if !errors.Is(err, store.ErrNoMarker) {
				t.Fatalf("got %v", err)
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Fatalf("Open created %v", after)
			}
		})
	}
}

func TestInit(t *testing.T) {
	t.Run("foreign dir", func(t *testing.T) {
		dir := t.TempDir()
		_ = os.WriteFile(filepath.Join(dir, "photo.jpg"), []byte("x"), 0o600)
		if err := store.Init(dir, "b"); !errors.Is(err, store.ErrForeignDir) {
			t.Fatalf("got %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, ".cctv-data")); err == nil {
			t.Fatal("marker written")
		}
	})
	t.Run("fresh filesystem", func(t *testing.T) {
		dir := t.TempDir()
		_ = os.Mkdir(filepath.Join(dir, "lost+found"), 0o700)
		if err := store.Init(dir, "b"); err != nil {
			t.Fatal(err)
		}
		m, _ := os.ReadFile(filepath.Join(dir, ".cctv-data"))
		if string(m) != "cctv data directory\nformat 1\nbox b\n" {
			t.Fatalf("marker %q", m)
		}
	})
	t.Run("idempotent and completes", func(t *testing.T) {
		e := newEnv(t)
		s := e.open(t)
		storetest.WriteSegment(t, s, "cam", t0, 5)
		if err := store.Init(e.dir, storetest.BoxID); !errors.Is(err, store.ErrLocked) {
			t.Fatalf("init while open: %v", err)
		}
		_ = s.Close()
		_ = os.Remove(filepath.Join(e.dir, "quarantine"))
		if err := store.Init(e.dir, storetest.BoxID); err != nil {
			t.Fatal(err)
		}
		s = e.open(t)
		e.mustClean(t, s)
		if segs, _ := s.Segments("cam", time.Time{}, t0.Add(time.Hour)); len(segs) != 1 {
			t.Fatal("Init lost footage")
		}
	})
	t.Run("other box", func(t *testing.T) {
		e := newEnv(t)
		if err := store.Init(e.dir, "other"); !errors.Is(err, store.ErrWrongBox) {
			t.Fatalf("got %v", err)
		}
		if _, err := store.Open(e.dir, store.Options{BoxID: "other", ReadOnly: true}); !errors.Is(err, store.ErrWrongBox) {
			t.Fatalf("open: %v", err)
		}
	})
}

func TestOpen_Locked(t *testing.T) {
	e := newEnv(t)
	e.open(t)
	done := make(chan error, 1)
	go func() {
		_, err := store.Open(e.dir, store.Options{Signer: e.sig})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrLocked) {
			t.Fatalf("got %v want ErrLocked", err)
		}
	case <-time.After(5 * time.Second): // a safety net, not a timing assertion
		t.Fatal("second Open hangs")
	}
}

func TestOpen_ReadOnly(t *testing.T) {
	e := newEnv(t)
	var ros []*store.Store
	for range 2 {
		s, err := store.Open(e.dir, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		ros = append(ros, s)
	}
	if _, err := ros[0].CreateSegment("cam", t0, "h264"); !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("got %v", err)
	}
	for _, s := range ros {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal("second Close:", err)
		}
	}
	if _, err := store.Open(e.dir, store.Options{}); err == nil {
		t.Fatal("writable open without signer accepted")
	}
}

func TestOpen_Schema(t *testing.T) {
	e := newEnv(t)
	db, err := bolt.Open(filepath.Join(e.dir, "index.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("99")) })
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if _, err := store.Open(e.dir, store.Options{Signer: e.sig}); !errors.Is(err, store.ErrSchema) {
		t.Fatalf("got %v", err)
	}
}

func TestStore_GapsAndStates(t *testing.T) {
	s := storetest.New(t)
	gaps := []store.Gap{
		{Camera: "cam", From: t0.Add(-24 * time.Hour), To: t0.Add(time.Minute), Reason: "unreachable"},
		{Camera: "cam", From: t0.Add(time.Hour), To: t0.Add(time.Hour + time.Second), Reason: "stalled"},
	}
	for _, g := range gaps {
		if err := s.AddGap(g); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddGap(store.Gap{Camera: "cam", From: t0, To: t0.Add(-1), Reason: "x"}); err == nil {
		t.Fatal("backwards gap accepted")
	}
	got, err := s.Gaps("cam", t0, t0.Add(30*time.Second))
	if err != nil || len(got) != 1 || got[0].Reason != "unreachable" {
		t.Fatalf("gaps %+v %v", got, err)
	}
	got, _ = s.Gaps("cam", time.Time{}, t0.Add(48*time.Hour))
	if len(got) != 2 {
		t.Fatalf("all gaps %+v", got)
	}
	st := store.CameraState{Camera: "door", State: "down", Reason: "connection refused", Since: t0, Codec: "h264"}
	if err := s.SetCameraState(st); err != nil {
		t.Fatal(err)
	}
	sts, err := s.CameraStates()
	if err != nil || len(sts) != 1 || sts[0] != st {
		t.Fatalf("states %+v %v", sts, err)
	}
	// Only changes of state are audited.
	st2 := st
	st2.Reason = "timeout"
	st3 := store.CameraState{Camera: "door", State: "recording", Since: t0.Add(time.Minute)}
	for _, x := range []store.CameraState{st2, st3} {
		if err := s.SetCameraState(x); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := s.AuditEntries(store.AuditFilter{Action: "camera."})
	if err != nil || len(ents) != 2 || ents[0].Action != "camera.down" || ents[1].Action != "camera.recording" ||
		ents[0].Params["camera"] != "door" || ents[0].Params["reason"] != "connection refused" {
		t.Fatalf("camera entries %+v %v", ents, err)
	}
	if cams, _ := s.Cameras(); !slices.Equal(cams, []string{"cam", "door"}) {
		t.Fatalf("cameras %v", cams)
	}
}

func TestDisposeSegment(t *testing.T) {
	s := storetest.New(t)
	var recs []store.SealRecord
	for i := range 4 {
		recs = append(recs, storetest.WriteSegment(t, s, "cam", t0.Add(time.Duration(i)*time.Second), 25))
	}
	for _, i := range []int{0, 2} {
		if err := s.DisposeSegment("cam", recs[i].Seal.Start, "retention"); err != nil {
			t.Fatal(err)
		}
		if err := s.DisposeSegment("cam", recs[i].Seal.Start, "retention"); err != nil {
			t.Fatalf("not idempotent: %v", err)
		}
	}
	if err := s.DisposeSegment("cam", t0.Add(time.Hour), "retention"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	w, err := s.CreateSegment("cam", t0.Add(time.Minute), "h264")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DisposeSegment("cam", t0.Add(time.Minute), "retention"); !errors.Is(err, store.ErrOpen) {
		t.Fatalf("open: %v", err)
	}
	if _, err := w.Seal(store.SealInfo{}); !errors.Is(err, store.ErrEmpty) {
		t.Fatal(err)
	}
	ds, err := s.Disposals("cam", time.Time{}, t0.Add(time.Hour))
	if err != nil || len(ds) != 2 || ds[0].SHA256 != recs[0].Seal.SHA256 || ds[1].Why != "retention" || ds[0].Seal == nil {
		t.Fatalf("disposals %+v %v", ds, err)
	}
	segs, _ := s.Segments("cam", time.Time{}, t0.Add(time.Hour))
	if len(segs) != 2 || segs[0].Seq != 2 || segs[1].Seq != 4 {
		t.Fatalf("segments left %+v", segs)
	}
	for _, r := range []store.SealRecord{recs[0], recs[2]} {
		if _, err := os.Stat(filepath.Join(s.DataDir(), r.Seal.File)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("file remains: %v", err)
		}
	}
	ents, err := s.AuditEntries(store.AuditFilter{Action: "segment.dispose"})
	if err != nil || len(ents) != 2 {
		t.Fatalf("dispose entries %+v %v", ents, err)
	}
	for i, r := range []store.SealRecord{recs[0], recs[2]} {
		p := ents[i].Params
		if p["camera"] != "cam" || p["file"] != r.Seal.File || p["why"] != "retention" || p["sha256"] != r.Seal.SHA256 {
			t.Errorf("dispose entry %+v", ents[i])
		}
	}
}

// A deletion is recorded to the millisecond (its record packs smaller:
// blocks.go), whatever the clock's resolution.
func TestDisposeSegment_WhenToTheMillisecond(t *testing.T) {
	e := newEnv(t)
	e.clk.Set(t0.Add(time.Hour + 123456789*time.Nanosecond))
	s := e.open(t)
	rec := writeSeg(t, s, "cam", t0, time.Second)
	if err := s.DisposeSegment("cam", rec.Seal.Start, "retention"); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Disposals("cam", t0, t0.Add(time.Hour))
	if err != nil || len(ds) != 1 || !ds[0].When.Equal(t0.Add(time.Hour+123*time.Millisecond)) {
		t.Fatalf("disposals %+v %v", ds, err)
	}
	e.mustClean(t, s)
}
