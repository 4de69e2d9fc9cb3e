package store

import "testing"

// A tagBlockDiff mask reads back as the same bits for every combination,
// a record like the one before it costs one byte, and a mask naming a
// field past diffBits is refused.
func TestBlockDiffMask_RoundTrip(t *testing.T) {
	for same := uint64(0); same <= allSame; same++ {
		back, ok := sameMask(diffMask(same))
		if !ok || back != same {
			t.Fatalf("mask %#x reads back as %#x (%v)", same, back, ok)
		}
	}
	if m := diffMask(allSame &^ sameStart &^ sameOffset); m >= 0x80 {
		t.Fatalf("a record differing in start and clock offset writes mask %#x: more than a byte", m)
	}
	if _, ok := sameMask(1 << len(diffBits)); ok {
		t.Fatal("a mask bit past diffBits was accepted")
	}
}
