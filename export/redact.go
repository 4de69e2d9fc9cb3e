package export

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/council/cctv/export/evidence"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/timeinput"
)

// Mask is a region to obscure (or, with Keep, to keep): see evidence.Mask.
type Mask = evidence.Mask

// How masked parts are obscured.
const (
	FillSolid    = "solid"    // black
	FillPixelate = "pixelate" // each block replaced by its average colour
)

// MinBlock is the smallest pixelation block, in pixels.
const MinBlock = 16

// PixelBlock is the pixelation block of a picture h pixels high: 1/24 of
// its height, at least MinBlock and even. A face filling a tenth of the
// picture's height is then two or three blocks high: unrecognisable.
func PixelBlock(h int) int {
	b := max(MinBlock, h/24)
	return b + b%2
}

// ParseMask parses "[CAMERA:]X,Y,W,H[@FROM-TO]": a rectangle in pixels of
// the recorded picture (origin top left), for one camera or every camera,
// limited to frames shown from FROM to TO if given. FROM and TO are times
// of day (HH:MM[:SS]) on the day of day in loc, separated by "-", or full
// times (timeinput.Parse) separated by "..".
func ParseMask(s string, keep bool, day time.Time, loc *time.Location) (Mask, error) {
	m := Mask{Keep: keep}
	spec, when, timed := strings.Cut(strings.TrimSpace(s), "@")
	if cam, rect, ok := strings.Cut(spec, ":"); ok {
		m.Camera, spec = strings.TrimSpace(cam), rect
	}
	f := strings.Split(spec, ",")
	if len(f) != 4 {
		return m, fmt.Errorf("%q: a region is X,Y,W,H in pixels, e.g. 120,40,200,260", s)
	}
	v := make([]int, 4)
	for i, x := range f {
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil || n < 0 || n > 1<<15 {
			return m, fmt.Errorf("%q: %q is not a number of pixels", s, x)
		}
		v[i] = n
	}
	m.X, m.Y, m.W, m.H = v[0], v[1], v[2], v[3]
	if m.W == 0 || m.H == 0 {
		return m, fmt.Errorf("%q: the width and height must be at least 1 pixel", s)
	}
	if !timed {
		return m, nil
	}
	var a, b string
	var parse func(string) (time.Time, error)
	if x, y, ok := strings.Cut(when, ".."); ok {
		a, b = x, y
		parse = func(t string) (time.Time, error) { return timeinput.Parse(strings.TrimSpace(t), loc) }
	} else if x, y, ok := strings.Cut(when, "-"); ok {
		a, b = x, y
		parse = func(t string) (time.Time, error) { return timeinput.ParseClock(strings.TrimSpace(t), day, loc) }
	} else {
		return m, fmt.Errorf("%q: give the times as @HH:MM:SS-HH:MM:SS, or full times as @FROM..TO", s)
	}
	var err error
	if m.From, err = parse(a); err != nil {
		return m, fmt.Errorf("%q: %w", s, err)
	}
	if m.To, err = parse(b); err != nil {
		return m, fmt.Errorf("%q: %w", s, err)
	}
	if !m.To.After(m.From) {
		return m, fmt.Errorf("%q: the end time must be after the start time", s)
	}
	return m, nil
}

// MaskString formats m as ParseMask reads it (times in full, UTC).
func MaskString(m Mask) string {
	s := fmt.Sprintf("%d,%d,%d,%d", m.X, m.Y, m.W, m.H)
	if m.Camera != "" {
		s = m.Camera + ":" + s
	}
	if !m.From.IsZero() {
		s += "@" + m.From.UTC().Format(time.RFC3339Nano) + ".." + m.To.UTC().Format(time.RFC3339Nano)
	}
	return s
}

// ErrMaskOutside is wrapped by CheckMasks' errors: a region not inside the
// picture.
var ErrMaskOutside = errors.New("mask outside the picture")

// CheckMasks checks that every mask for camera lies inside its w×h
// picture, returning one error per mask that does not, each wrapping
// ErrMaskOutside and naming the mask and the picture size.
func CheckMasks(masks []Mask, camera string, w, h int) error {
	var errs []error
	for _, m := range masks {
		if m.Camera != "" && m.Camera != camera {
			continue
		}
		if m.X+m.W > w || m.Y+m.H > h {
			kind := "--mask"
			if m.Keep {
				kind = "--keep"
			}
			errs = append(errs, fmt.Errorf("%s %d,%d,%d,%d reaches %d,%d, outside camera %s's picture of %dx%d pixels: %w",
				kind, m.X, m.Y, m.W, m.H, m.X+m.W, m.Y+m.H, camera, w, h, ErrMaskOutside))
		}
	}
	return errors.Join(errs...)
}

// redactor obscures the masks of one camera in its pictures.
type redactor struct {
	masks []Mask // this camera's
	fill  string
	block int
}

func newRedactor(masks []Mask, camera, fill string, h int) *redactor {
	r := &redactor{fill: fill, block: PixelBlock(h)}
	for _, m := range masks {
		if m.Camera == "" || m.Camera == camera {
			r.masks = append(r.masks, m)
		}
	}
	return r
}

// edits describes what the redactor does, for the manifest.
func (r *redactor) edits() string {
	how := "filled solid black"
	if r.fill == FillPixelate {
		how = fmt.Sprintf("pixelated in blocks of %dx%d pixels, each replaced by its average colour", r.block, r.block)
	}
	return fmt.Sprintf("%d mask(s) of subject_access.masks %s (regions outside a kept region likewise); "+
		"the date and time of each picture (site time with GMT/BST) burnt into a black band added below it", len(r.masks), how)
}

// regions returns the rectangles to obscure in a w×h picture shown at t:
// the active masks, and everything outside the active kept regions.
func (r *redactor) regions(t time.Time, w, h int) []image.Rectangle {
	pic := image.Rect(0, 0, w, h)
	var out, keeps []image.Rectangle
	for _, m := range r.masks {
		if !m.From.IsZero() && (t.Before(m.From) || !t.Before(m.To)) {
			continue
		}
		rect := image.Rect(m.X, m.Y, m.X+m.W, m.Y+m.H).Intersect(pic)
		if m.Keep {
			keeps = append(keeps, rect)
		} else if !rect.Empty() {
			out = append(out, rect)
		}
	}
	if len(keeps) > 0 {
		out = append(out, complement(keeps, pic)...)
	}
	return out
}

// complement returns rectangles covering exactly the part of pic outside
// every rectangle of rs.
func complement(rs []image.Rectangle, pic image.Rectangle) []image.Rectangle {
	ys := []int{pic.Min.Y, pic.Max.Y}
	for _, r := range rs {
		ys = append(ys, r.Min.Y, r.Max.Y)
	}
	slices.Sort(ys)
	ys = slices.Compact(ys)
	var out []image.Rectangle
	for i := 0; i+1 < len(ys); i++ {
		y0, y1 := ys[i], ys[i+1]
		var xs [][2]int
		for _, r := range rs {
			if r.Min.Y <= y0 && r.Max.Y >= y1 && !r.Empty() {
				xs = append(xs, [2]int{r.Min.X, r.Max.X})
			}
		}
		slices.SortFunc(xs, func(a, b [2]int) int { return a[0] - b[0] })
		x := pic.Min.X
		for _, iv := range xs {
			if iv[0] > x {
				out = append(out, image.Rect(x, y0, iv[0], y1))
			}
			x = max(x, iv[1])
		}
		if x < pic.Max.X {
			out = append(out, image.Rect(x, y0, pic.Max.X, y1))
		}
	}
	return out
}

// plane is one plane of a picture: bpp interleaved channels per pixel,
// scale pixels of the picture per sample (2 for 4:2:0 chroma).
type plane struct {
	pix         []byte
	stride, bpp int
	w, h, scale int
	solid       []byte // the value of a solid fill, per channel
}

// sub maps a picture rectangle to this plane's samples, rounding outwards.
func (p plane) sub(r image.Rectangle) image.Rectangle {
	s := p.scale
	return image.Rect(r.Min.X/s, r.Min.Y/s, (r.Max.X+s-1)/s, (r.Max.Y+s-1)/s).Intersect(image.Rect(0, 0, p.w, p.h))
}

func (p plane) set(r image.Rectangle, v []byte) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := p.pix[y*p.stride:]
		for x := r.Min.X; x < r.Max.X; x++ {
			copy(row[x*p.bpp:x*p.bpp+p.bpp], v)
		}
	}
}

func (p plane) average(r image.Rectangle) {
	if r.Empty() {
		return
	}
	var sum [4]int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := p.pix[y*p.stride:]
		for x := r.Min.X; x < r.Max.X; x++ {
			for c := range p.bpp {
				sum[c] += int(row[x*p.bpp+c])
			}
		}
	}
	n := r.Dx() * r.Dy()
	v := make([]byte, p.bpp)
	for c := range p.bpp {
		v[c] = byte((sum[c] + n/2) / n)
	}
	p.set(r, v)
}

// obscure fills the regions of a w×h picture in its planes: solid, or
// pixelated on a grid of r.block cells from the picture's origin, every
// cell that touches a region replaced by its average (so the obscured
// area only ever grows to whole cells).
func (r *redactor) obscure(planes []plane, regions []image.Rectangle, w, h int) {
	if len(regions) == 0 {
		return
	}
	if r.fill != FillPixelate {
		for _, p := range planes {
			for _, reg := range regions {
				p.set(p.sub(reg), p.solid)
			}
		}
		return
	}
	b := r.block
	for cy := 0; cy < h; cy += b {
		for cx := 0; cx < w; cx += b {
			cell := image.Rect(cx, cy, min(cx+b, w), min(cy+b, h))
			hit := false
			for _, reg := range regions {
				if reg.Overlaps(cell) {
					hit = true
					break
				}
			}
			if !hit {
				continue
			}
			for _, p := range planes {
				p.average(p.sub(cell))
			}
		}
	}
}

// frame is the FrameEdit of a redacted copy: masks, then the time band.
func (r *redactor) frame(loc *time.Location, camera string) *media.FrameEdit {
	text := func(t time.Time) string {
		return t.In(loc).Format("2006-01-02 15:04:05.000 MST") + "  CAMERA " + camera
	}
	sample := text(time.Date(2026, 1, 1, 0, 0, 0, 0, loc))
	bandOf := func(w int) (band, scale int) {
		s := captionScale(w, len(sample))
		return (lineH + 2*padding) * s, s
	}
	return &media.FrameEdit{
		Band: func(w, _ int) int { b, _ := bandOf(w); return b },
		Apply: func(p *media.Picture, wall time.Time) {
			band, s := bandOf(p.Width)
			band += band % 2
			h := p.Height - band
			cw, ch := (p.Width+1)/2, (h+1)/2
			planes := []plane{
				{pix: p.Y, stride: p.YStride, bpp: 1, w: p.Width, h: h, scale: 1, solid: []byte{16}},
				{pix: p.Cb, stride: p.CStride, bpp: 1, w: cw, h: ch, scale: 2, solid: []byte{128}},
				{pix: p.Cr, stride: p.CStride, bpp: 1, w: cw, h: ch, scale: 2, solid: []byte{128}},
			}
			r.obscure(planes, r.regions(wall, p.Width, h), p.Width, h)
			drawGlyphs(func(x, y int) {
				if x >= 0 && x < p.Width && y >= h && y < p.Height {
					p.Y[y*p.YStride+x] = 235
				}
			}, padding*s, h+padding*s, s, text(wall))
		},
	}
}

// redactImage obscures the masks active at t in a picture (a still).
func (r *redactor) redactImage(img *image.RGBA, t time.Time) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	p := plane{pix: img.Pix, stride: img.Stride, bpp: 4, w: w, h: h, scale: 1, solid: []byte{0, 0, 0, 255}}
	r.obscure([]plane{p}, r.regions(t, w, h), w, h)
}

// drawGlyphs calls set for every pixel of text drawn at scale s from x0,y0.
func drawGlyphs(set func(x, y int), x0, y0, s int, text string) {
	for i, ch := range []rune(strings.ToUpper(text)) {
		g, ok := glyphs[ch]
		if !ok {
			g = glyphs['?']
		}
		for row, bits := range g {
			for col, c := range bits {
				if c != '#' {
					continue
				}
				for dy := range s {
					for dx := range s {
						set(x0+(i*advance+col)*s+dx, y0+row*s+dy)
					}
				}
			}
		}
	}
}

// preview draws, on a picture of camera at t, what an officer needs to
// choose masks: the masks applied as the export would, each outlined and
// numbered (M1… red for masks, K1… green for kept regions), and a grid of
// labelled lines every step pixels.
func (r *redactor) preview(img *image.RGBA, t time.Time, step int) {
	r.redactImage(img, t)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	blend := func(x, y int, c color.RGBA, a int) {
		if x < 0 || y < 0 || x >= w || y >= h {
			return
		}
		i := y*img.Stride + 4*x
		for k, v := range []uint8{c.R, c.G, c.B} {
			img.Pix[i+k] = uint8((int(img.Pix[i+k])*(256-a) + int(v)*a) >> 8)
		}
	}
	yellow := color.RGBA{255, 230, 0, 255}
	for x := step; x < w; x += step {
		for y := range h {
			blend(x, y, yellow, 110)
		}
	}
	for y := step; y < h; y += step {
		for x := range w {
			blend(x, y, yellow, 110)
		}
	}
	label := func(x, y int, c color.RGBA, s string) {
		// A dark box behind the text, so it reads on any picture.
		for yy := y - 1; yy < y+glyphH+1; yy++ {
			for xx := x - 1; xx < x+len(s)*advance; xx++ {
				blend(xx, yy, color.RGBA{}, 160)
			}
		}
		drawGlyphs(func(px, py int) { blend(px, py, c, 256) }, x, y, 1, s)
	}
	for x := step; x < w; x += step {
		label(x+2, 2, yellow, strconv.Itoa(x))
	}
	for y := step; y < h; y += step {
		label(2, y+2, yellow, strconv.Itoa(y))
	}
	nm, nk := 0, 0
	for _, m := range r.masks {
		active := m.From.IsZero() || (!t.Before(m.From) && t.Before(m.To))
		c, name := color.RGBA{255, 40, 40, 255}, ""
		if m.Keep {
			nk++
			c, name = color.RGBA{40, 255, 40, 255}, "K"+strconv.Itoa(nk)
		} else {
			nm++
			name = "M" + strconv.Itoa(nm)
		}
		if !active {
			name += " (NOT NOW)"
		}
		x0, y0, x1, y1 := m.X, m.Y, m.X+m.W-1, m.Y+m.H-1
		for k := range 2 {
			for x := x0; x <= x1; x++ {
				blend(x, y0+k, c, 256)
				blend(x, y1-k, c, 256)
			}
			for y := y0; y <= y1; y++ {
				blend(x0+k, y, c, 256)
				blend(x1-k, y, c, 256)
			}
		}
		label(x0+4, y0+4, c, name)
	}
}
