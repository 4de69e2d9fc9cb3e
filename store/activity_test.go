package store_test

import (
	"testing"
	"time"

	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
)

// The encoding keeps about 9 % resolution over the whole range and fits a
// one-minute segment in 61 bytes.
func TestEncodeActivity_LogScale(t *testing.T) {
	per := make([]int64, 60)
	for i := range per {
		per[i] = int64(1) << (i % 31)
	}
	per[0] = 0
	enc := store.EncodeActivity(per)
	if len(enc) != 61 {
		t.Errorf("one minute takes %d bytes, want 61", len(enc))
	}
	for i, n := range per {
		got := store.ActivityBytes(enc[1+i])
		if n == 0 && got != 0 {
			t.Errorf("second %d: 0 bytes came back as %d", i, got)
		}
		if n > 0 && (float64(got) < 0.9*float64(n)-1 || float64(got) > 1.1*float64(n)+1) {
			t.Errorf("second %d: %d bytes came back as %d", i, n, got)
		}
	}
}

// A segment's activity is stored with its seal and removed with its entry:
// after disposal nothing of it is left, and the index stays consistent.
func TestActivity_StoredWithSealDeletedWithEntry(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	start := t0
	w, err := s.CreateSegment("desk", start, "h264")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(storetest.TS(50)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Seal(store.SealInfo{End: start.Add(2 * time.Second), Frames: 50, TimeSource: "arrival",
		Activity: store.EncodeActivity([]int64{100, 5000})}); err != nil {
		t.Fatal(err)
	}
	e.write(t, s, "desk", start.Add(2*time.Second), 50) // sealed without activity
	got, err := s.Activity("desk", start, start.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Start.Equal(start) || len(got[0].Levels) != 2 || got[0].Levels[1] <= got[0].Levels[0] {
		t.Fatalf("activity %+v, want the first segment's two seconds, the second busier", got)
	}
	if got, _ := s.Activity("desk", start.Add(time.Minute), start.Add(2*time.Minute)); len(got) != 0 {
		t.Errorf("activity after the footage: %+v", got)
	}
	if err := s.DisposeSegment("desk", start, "test"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Activity("desk", start, start.Add(time.Minute)); err != nil || len(got) != 0 {
		t.Errorf("activity after disposal: %+v, %v", got, err)
	}
	e.mustClean(t, s)
}
