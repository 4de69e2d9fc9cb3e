package seal

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

func sample() Seal {
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	return Seal{Version: 1, Box: "box-1", Camera: "front-desk", Seq: 42,
		File: "segments/front-desk/2026-03-14/front-desk_20260314T090000.000Z.ts", Codec: "h264",
		Start: start, End: start.Add(time.Minute + 40*time.Millisecond), Bytes: 31_000_000, Frames: 1501,
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", TimeSource: "rtcp",
		ClockOffsetMS: -120, CameraClock: true, LostPackets: 3, DroppedFrames: 2, State: "sealed",
		Flags: []string{"clock-jump"}, Prev: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
		SealedAt: start.Add(time.Minute + 300*time.Millisecond)}
}

// TestCanonical_Plain: the hand-written encoding is encoding/json's, for a
// full seal and for one with every omitempty field empty.
func TestCanonical_Plain(t *testing.T) {
	full := sample()
	empty := sample()
	empty.CameraClock, empty.LostPackets, empty.DroppedFrames, empty.Flags, empty.Prev = false, 0, 0, nil, ""
	odd := sample()
	odd.Camera = "caf\u00e9 <lobby>" // not plain: encoding/json's own bytes
	for _, s := range []Seal{full, empty, odd} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Canonical()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Canonical:\n%s\nencoding/json:\n%s", got, want)
		}
	}
	if _, ok := odd.appendPlain(nil); ok {
		t.Fatal("a camera name with <, > and é taken as plain")
	}
}

func TestHash_NoAllocBeyondResult(t *testing.T) {
	s := sample()
	if n := testing.AllocsPerRun(100, func() { _ = s.Hash() }); n > 1 {
		t.Errorf("Hash allocates %v times", n)
	}
}

// FuzzCanonical: for any seal encoding/json can read, Canonical is exactly
// what json.Marshal makes of it (times in UTC), plain or not.
func FuzzCanonical(f *testing.F) {
	b, _ := json.Marshal(sample())
	f.Add(b)
	f.Add([]byte(`{"version":1,"box":"b","camera":"c<&>\u2028","seq":3,"start":"2026-11-22T14:00:00.5+01:00","flags":["x",""]}`))
	f.Add([]byte(`{"start":"0000-01-01T00:00:00Z","end":"9999-12-31T23:59:59.999999999Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Seal
		if json.Unmarshal(data, &s) != nil {
			return
		}
		u := s
		u.Start, u.End, u.SealedAt = u.Start.UTC(), u.End.UTC(), u.SealedAt.UTC()
		want, werr := json.Marshal(u)
		got, err := s.Canonical()
		if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("Canonical %q (%v), encoding/json %q (%v)", got, err, want, werr)
		}
	})
}

// TestAppendUTC_IsRFC3339Nano holds the hand-written time format to
// AppendFormat(time.RFC3339Nano) over the years a seal can hold and every
// length of fraction, trailing zeros included.
func TestAppendUTC_IsRFC3339Nano(t *testing.T) {
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC),
		time.Date(2028, 2, 29, 12, 34, 56, 100, time.UTC),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		ns := rng.Int64N(10_000 * 365 * 24 * 3600)
		frac := rng.Int64N(1_000_000_000)
		frac -= frac % []int64{1, 10, 1_000, 1_000_000, 100_000_000, 1_000_000_000}[rng.IntN(6)]
		times = append(times, time.Unix(ns-62135596800, frac).UTC())
	}
	for _, tm := range times {
		if got, want := appendUTC(nil, tm), tm.AppendFormat(nil, time.RFC3339Nano); !bytes.Equal(got, want) {
			t.Fatalf("appendUTC %s, AppendFormat %s", got, want)
		}
	}
}
