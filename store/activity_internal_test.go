package store

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// packActivity's form reads back exactly, for steady, jumping, silent
// and random seconds, and a steady minute takes about half the bytes.
func TestPackActivity_RoundTrip(t *testing.T) {
	steady := make([]byte, 60)
	for i := range steady {
		steady[i] = byte(150 + i%5 - i%3)
	}
	jumps := []byte{0, 255, 0, 8, 0, 7, 14, 6, 255, 248, 247, 255}
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, MaxActivitySeconds)
	for i := range random {
		random[i] = byte(r.IntN(256))
	}
	for name, levels := range map[string][]byte{"steady": steady, "jumps": jumps, "random": random, "none": {}, "one": {9}} {
		p := packActivity(levels)
		back, err := unpackActivity(p)
		if err != nil || !bytes.Equal(back, levels) {
			t.Fatalf("%s: %v back as %v, %v", name, levels, back, err)
		}
		for cut := range len(p) {
			if _, err := unpackActivity(p[:cut]); err == nil {
				t.Fatalf("%s: %d of %d bytes decoded without error", name, cut, len(p))
			}
		}
		if _, err := unpackActivity(append(p, 0)); err == nil {
			t.Fatalf("%s: a trailing byte decoded without error", name)
		}
	}
	if n := len(packActivity(steady)); n > 33 {
		t.Errorf("a steady minute packs into %d bytes, want at most 33", n)
	}
	if n := len(packActivity(random)); n > 2+len(random) {
		t.Errorf("%d random levels pack into %d bytes, more than as they are", len(random), n)
	}
}

// Any levels pack and read back exactly; garbage never panics unpacking.
func FuzzPackActivity(f *testing.F) {
	f.Add([]byte{150, 151, 149, 160, 0, 255})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, levels []byte) {
		_, _ = unpackActivity(levels)
		if len(levels) > MaxActivitySeconds {
			return
		}
		back, err := unpackActivity(packActivity(levels))
		if err != nil || !bytes.Equal(back, levels) {
			t.Fatalf("%v back as %v, %v", levels, back, err)
		}
	})
}
