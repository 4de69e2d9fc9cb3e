package store_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
)

// fullDisk makes a data directory on a 24 MiB tmpfs with 1200 recorded
// segments on two cameras, then fills the file system to the last block
// with a ballast file. keepReserve false removes the reserve first: the
// control, a box without it.
func fullDisk(t *testing.T, keepReserve bool) (*store.Store, string, time.Time) {
	t.Helper()
	s, dir := onSmallDisk(t)
	_, total, err := fsutil.FreeSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Reserve(); !r.Held || r.Bytes != store.ReserveSize(total) || r.Bytes < 128<<10 {
		t.Fatalf("after Open: reserve %+v, want held with %d bytes", r, store.ReserveSize(total))
	}
	// Weeks of recording as the recorder leaves them: one commit to open
	// each segment, one to seal it, so the index's free-page list is small.
	old := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	ts := storetest.TS(10)
	for i := range 1200 {
		start := old.Add(time.Duration(i) * 2 * time.Second)
		cam := []string{"cam-a", "cam-b"}[i%2]
		w, err := s.CreateSegment(cam, start, "h264")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(ts); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Seal(store.SealInfo{End: start.Add(2 * time.Second), Frames: 10, TimeSource: "arrival"}); err != nil {
			t.Fatal(err)
		}
	}
	if !keepReserve {
		if err := os.Remove(filepath.Join(dir, ".reserve")); err != nil {
			t.Fatal(err)
		}
	}
	// Fill to the last block (root has no reserved blocks on tmpfs).
	f, err := os.Create(filepath.Join(filepath.Dir(dir), "ballast")) // beside the data directory
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4096} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !fsutil.IsNoSpace(err) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	if free, _, _ := fsutil.FreeSpace(dir); free != 0 {
		t.Fatalf("disk not full: %d bytes free", free)
	}
	return s, dir, old
}

// TestReserve_FullDiskPressureDeletes: on a disk full to the last block
// with a grown index, a disk-pressure batch cannot commit without the
// reserve (the control shows ENOSPC); with it, the store releases the
// reserve, deletes, audits the release, recording resumes, and the reserve
// is made again once there is room.
func TestReserve_FullDiskPressureDeletes(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const need = 1 << 40 // as much as one batch may delete

	t.Run("control without reserve", func(t *testing.T) {
		s, _, _ := fullDisk(t, false)
		store.SetFullDiskRetryForTest(false)
		ds, err := s.ApplyPressure(need, now, 1000)
		store.SetFullDiskRetryForTest(true)
		if !fsutil.IsNoSpace(err) {
			t.Fatalf("without a reserve, pressure on a full disk: %d deleted, err %v; want no space (else this test shows nothing)", len(ds), err)
		}
		t.Logf("as before the reserve: %v", err)
		// Smaller batches: what the free-page list allows.
		ds, err = s.ApplyPressure(need, now, 1000)
		t.Logf("without a reserve, in smaller batches: %d deleted, %v", len(ds), err)
	})

	s, dir, old := fullDisk(t, true)
	// The disk is full: recording fails.
	w, err := s.CreateSegment("cam-new", now, "h264")
	if err == nil {
		if _, err = w.Write(storetest.TS(500)); err == nil {
			err = w.Sync()
		}
	}
	if !fsutil.IsNoSpace(err) {
		t.Fatalf("recording on the full disk: %v, want no space", err)
	}

	ds, err := s.ApplyPressure(need, now, 1000)
	if err != nil {
		t.Fatalf("pressure on a full disk with the reserve: %v", err)
	}
	if len(ds) == 0 || !ds[0].Start.Equal(old) {
		t.Fatalf("pressure deleted %d segments, want the oldest first", len(ds))
	}
	r := s.Reserve()
	if r.Held || r.ReleasedAt.IsZero() || r.ReleasedFor != "disk pressure" {
		t.Errorf("after the release: %+v", r)
	}
	es, err := s.AuditEntries(store.AuditFilter{Action: "reserve."})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Action != "reserve.release" || es[0].Result != "ok" || es[0].Params["deleted"] != fmt.Sprint(len(ds)) {
		t.Errorf("audit of the release: %+v", es)
	}
	free, total, _ := fsutil.FreeSpace(dir)
	t.Logf("deleted %d segments; %d bytes free; reserve was %d bytes", len(ds), free, store.ReserveSize(total))

	// Recording resumes: the failed segment is salvaged as the recorder
	// does, and a new one records.
	if w != nil {
		if _, err := w.Salvage(errors.New("no space left on device")); err != nil {
			t.Logf("salvage the segment the full disk cut short: %v", err)
		}
	}
	rec := storetest.WriteSegment(t, s, "cam-new", now.Add(time.Minute), 50)
	if rec.Seal.Bytes == 0 {
		t.Error("the new segment is empty")
	}

	// Not made again while that would leave less than keepFree free...
	if made, err := s.EnsureReserve(free); err != nil || made {
		t.Errorf("EnsureReserve without room: made %v, %v", made, err)
	}
	// ...and made again once there is room.
	if made, err := s.EnsureReserve(0); err != nil || !made {
		t.Fatalf("EnsureReserve with room: made %v, %v", made, err)
	}
	if r := s.Reserve(); !r.Held || !r.ReleasedAt.IsZero() {
		t.Errorf("after EnsureReserve: %+v", r)
	}
	es, _ = s.AuditEntries(store.AuditFilter{Action: "reserve."})
	if len(es) != 2 || es[1].Action != "reserve.restore" || es[1].Params["for"] != "disk pressure" {
		t.Errorf("audit of the restore: %+v", es)
	}
	vs, err := s.Check(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("check: %s", v)
	}
}

// onSmallDisk opens a store on a 24 MiB tmpfs of its own, for a genuinely
// full disk, and returns it with its data directory.
func onSmallDisk(t *testing.T) (*store.Store, string) {
	t.Helper()
	testutil.NeedRoot(t, "it mounts a small tmpfs for a genuinely full disk")
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt).CombinedOutput(); err != nil {
		testutil.Missing(t, "cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	dir := filepath.Join(mnt, "data")
	if err := store.Init(dir, storetest.BoxID); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(dir, store.Options{BoxID: storetest.BoxID, Signer: storetest.NewSigner()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}
