package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
)

// TestSegmentWriter_SyncBesideWrite: the recorder fsyncs a segment on one
// goroutine while its writer goes on writing on another (issue 14: a
// writer that fsynced inline stalled and dropped frames at 64 cameras).
// Every byte written reaches the file and the seal's hash, whatever the
// interleaving, and a Sync after the seal says the segment is finished.
func TestSegmentWriter_SyncBesideWrite(t *testing.T) {
	s := storetest.New(t)
	w, err := s.CreateSegment("cam", t0, "h264")
	if err != nil {
		t.Fatal(err)
	}
	ts := storetest.TS(250)
	done := make(chan struct{})
	var syncs int
	var syncErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if syncErr = w.Sync(); syncErr != nil {
				return
			}
			syncs++
		}
	})
	for i := 0; i < len(ts); i += 7 * 188 {
		if _, err := w.Write(ts[i:min(i+7*188, len(ts))]); err != nil {
			t.Fatalf("write at %d: %v", i, err)
		}
		if i%(70*188) == 0 {
			time.Sleep(time.Millisecond) // let fsyncs fall between writes
		}
	}
	close(done)
	wg.Wait()
	if syncErr != nil || syncs == 0 {
		t.Fatalf("%d syncs beside the writes, error %v", syncs, syncErr)
	}
	rec, err := w.Seal(store.SealInfo{End: t0.Add(10 * time.Second), Frames: 250, TimeSource: "arrival"})
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ts)
	if !bytes.Equal(onDisk, ts) || rec.Seal.Bytes != int64(len(ts)) || rec.Seal.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("file %d bytes (equal %v), seal %d bytes %s; wrote %d bytes %x",
			len(onDisk), bytes.Equal(onDisk, ts), rec.Seal.Bytes, rec.Seal.SHA256, len(ts), sum)
	}
	if err := w.Sync(); !errors.Is(err, store.ErrFinished) {
		t.Fatalf("sync after the seal: %v, want ErrFinished", err)
	}
}

// TestSegmentWriter_SyncBesideWrite_DiskFull: a write that fails while
// another goroutine fsyncs poisons the writer for both: the fsyncs that
// follow fail with the write's error (never a success that would vouch for
// a torn file), later writes too, and the segment salvages as before.
// Under -race this also checks that the error is shared safely.
func TestSegmentWriter_SyncBesideWrite_DiskFull(t *testing.T) {
	s, _ := onSmallDisk(t)
	w, err := s.CreateSegment("cam", t0, "h264")
	if err != nil {
		t.Fatal(err)
	}
	ts := storetest.TS(25)
	stop := make(chan struct{})
	syncErrs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			err := w.Sync()
			if err != nil {
				syncErrs <- err
				return
			}
			select {
			case <-stop: // after the failed write: this one must fail
				syncErrs <- w.Sync()
				return
			default:
			}
		}
	})
	var writeErr error
	for range 1 << 20 {
		if _, writeErr = w.Write(ts); writeErr != nil {
			break
		}
	}
	close(stop)
	wg.Wait()
	syncErr := <-syncErrs
	if !fsutil.IsNoSpace(writeErr) {
		t.Fatalf("writing until the disk is full: %v, want no space", writeErr)
	}
	if syncErr != writeErr {
		t.Errorf("the fsync beside the failed write returned %v, want the write's error %v", syncErr, writeErr)
	}
	if err := w.Sync(); err != writeErr {
		t.Errorf("sync after the failed write: %v, want the write's error", err)
	}
	if _, err := w.Write(ts[:188]); err != writeErr {
		t.Errorf("write after the failed write: %v, want the write's error", err)
	}
	if w.Err() != writeErr {
		t.Errorf("Err: %v, want the write's error", w.Err())
	}
	// What reached the disk is kept: the salvage may need room in the
	// index the full disk no longer has, so only its flag is checked when
	// it succeeds.
	if rec, err := w.Salvage(writeErr); err == nil && !slices.Contains(rec.Seal.Flags, "salvaged:ENOSPC") {
		t.Errorf("salvaged seal %+v", rec.Seal)
	}
}
