package media

import "strconv"

// testPicture is a planar YUV 4:2:0 image drawn in Go.
type testPicture struct {
	w, h    int
	y, u, v []byte
}

func newTestPicture(w, h int) *testPicture {
	return &testPicture{
		w: w, h: h,
		y: make([]byte, w*h),
		u: make([]byte, w*h/4),
		v: make([]byte, w*h/4),
	}
}

// font is a 3x5 bitmap font for the digits 0-9, one row per entry, most
// significant of the 3 bits on the left.
var font = [10][5]byte{
	{7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
	{7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
}

// draw paints frame i: a diagonal gradient and a bright square that both
// move with i, and i in big white digits on a black band at the top left.
func (p *testPicture) draw(i int) {
	w, h := p.w, p.h
	for y := range h {
		row := p.y[y*w : (y+1)*w]
		for x := range row {
			row[x] = byte(16 + (x+y+4*i)%200)
		}
	}
	for j := range p.u {
		p.u[j] = byte(128 + (i/4)%32 - 16)
		p.v[j] = byte(128 - (i/4)%32 + 16)
	}
	// A moving square, so motion estimation has something to do.
	side := h / 6
	sx := (i * 4) % max(w-side, 1)
	sy := h - side - h/10
	p.fill(sx, sy, side, side, 200)

	// The frame number: cell = one font pixel.
	digits := strconv.Itoa(i)
	cell := max(h/24, 2)
	margin := cell
	bandW := len(digits)*4*cell + margin
	bandH := 5*cell + 2*margin
	p.fill(0, 0, min(bandW+margin, w), min(bandH, h), 16)
	for d, ch := range digits {
		glyph := font[ch-'0']
		ox := margin + d*4*cell
		for gy, bits := range glyph {
			for gx := range 3 {
				if bits&(4>>gx) != 0 {
					p.fill(ox+gx*cell, margin+gy*cell, cell, cell, 235)
				}
			}
		}
	}
}

// fill paints a clipped rectangle of the luma plane.
func (p *testPicture) fill(x0, y0, w, h int, val byte) {
	x1, y1 := min(x0+w, p.w), min(y0+h, p.h)
	for y := max(y0, 0); y < y1; y++ {
		row := p.y[y*p.w : (y+1)*p.w]
		for x := max(x0, 0); x < x1; x++ {
			row[x] = val
		}
	}
}
