package export

import (
	"image"
	"testing"
	"time"
)

// The regions to obscure cover every pixel of every active mask and,
// with kept regions, exactly the pixels outside them: checked pixel by
// pixel against the definition.
func TestRedactor_Regions(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	masks := []Mask{
		{X: 10, Y: 10, W: 30, H: 20},
		{X: 300, Y: 200, W: 40, H: 80}, // partly outside: clipped
		{Keep: true, X: 50, Y: 40, W: 100, H: 100},
		{Keep: true, X: 120, Y: 100, W: 100, H: 60},                                      // overlaps the other kept region
		{X: 0, Y: 0, W: 320, H: 240, From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)}, // not active
		{Camera: "other", X: 0, Y: 0, W: 320, H: 240},                                    // another camera's
	}
	r := newRedactor(masks, "desk", FillSolid, 240)
	regs := r.regions(t0, 320, 240)
	in := func(p image.Point, rs ...image.Rectangle) bool {
		for _, q := range rs {
			if p.In(q) {
				return true
			}
		}
		return false
	}
	keeps := []image.Rectangle{image.Rect(50, 40, 150, 140), image.Rect(120, 100, 220, 160)}
	mask := []image.Rectangle{image.Rect(10, 10, 40, 30), image.Rect(300, 200, 340, 280)}
	for y := range 240 {
		for x := range 320 {
			p := image.Pt(x, y)
			want := in(p, mask...) || !in(p, keeps...)
			if got := in(p, regs...); got != want {
				t.Fatalf("pixel %v obscured %v, want %v (regions %v)", p, got, want, regs)
			}
		}
	}
	if got := r.regions(t0.Add(90*time.Minute), 320, 240); !in(image.Pt(100, 60), got...) {
		t.Error("the timed mask is not active inside its window")
	}
}

// Pixelating replaces every cell touching a region by its average, and
// leaves every other pixel alone.
func TestRedactor_Pixelate(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	orig := append([]byte(nil), img.Pix...)
	r := newRedactor([]Mask{{X: 20, Y: 5, W: 2, H: 2}}, "desk", FillPixelate, 48) // one cell: 16..32 × 0..16
	r.redactImage(img, time.Time{})
	for y := range 48 {
		for x := range 64 {
			i := y*img.Stride + 4*x
			inCell := x >= 16 && x < 32 && y < 16
			same := img.Pix[i] == orig[i] && img.Pix[i+1] == orig[i+1]
			if !inCell && !same {
				t.Fatalf("pixel %d,%d outside the cell changed", x, y)
			}
			if inCell && (img.Pix[i] != img.Pix[16*4] || img.Pix[i+2] != img.Pix[16*4+2]) {
				t.Fatalf("cell not flat at %d,%d", x, y)
			}
		}
	}
}
