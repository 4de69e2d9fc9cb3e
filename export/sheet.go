package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"time"

	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/store"
)

// SheetRequest asks for a contact sheet: one thumbnail of a camera every
// Every from From to To, to find a moment without watching hours.
type SheetRequest struct {
	Camera   string
	Location *time.Location // site time zone for the captions; default UTC
	From, To time.Time
	Every    time.Duration
	// Segments are the camera's sealed segments overlapping the window;
	// each is checked against its seal before it is decoded.
	Segments []store.Segment
	// Gaps are why footage is missing, for the tiles that have none.
	Gaps []store.Gap
}

// Sheet limits: a sheet is for finding a moment, not a way round the
// audited export.
const (
	MaxSheetTiles = 96
	sheetColumns  = 4
	sheetTileW    = 320
)

// SheetInfo says what a sheet shows.
type SheetInfo struct {
	Tiles   int // thumbnails with a picture
	Missing int // tiles at instants without footage
}

// ContactSheetJPEG renders the sheet as a JPEG: a grid, four tiles wide, of
// the frame on screen at each instant, each captioned with its site time
// (with GMT/BST); an instant without footage is a black tile saying why.
// It refuses more than MaxSheetTiles tiles.
func ContactSheetJPEG(ctx context.Context, r SheetRequest) ([]byte, SheetInfo, error) {
	var info SheetInfo
	if r.Location == nil {
		r.Location = time.UTC
	}
	n, err := SheetTiles(r.From, r.To, r.Every)
	if err != nil {
		return nil, info, err
	}
	checked := map[string]bool{}
	var tiles []image.Image
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, info, err
		}
		at := r.From.Add(time.Duration(i) * r.Every)
		tile, err := r.tile(ctx, at, checked)
		if err != nil {
			return nil, info, err
		}
		if tile.ok {
			info.Tiles++
		} else {
			info.Missing++
		}
		tiles = append(tiles, tile.img)
	}
	sheet := grid(tiles)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, sheet, &jpeg.Options{Quality: 85}); err != nil {
		return nil, info, fmt.Errorf("contact sheet: %w", err)
	}
	return buf.Bytes(), info, nil
}

// SheetTiles is the number of tiles of a sheet of [from, to) every every,
// or an error if the window or interval is not positive or the sheet would
// have more than MaxSheetTiles.
func SheetTiles(from, to time.Time, every time.Duration) (int, error) {
	if every <= 0 || !to.After(from) {
		return 0, errors.New("contact sheet: the window and the interval must be positive")
	}
	n := int(to.Sub(from)/every) + 1
	if from.Add(time.Duration(n-1) * every).Equal(to) {
		n-- // the window is [from, to)
	}
	if n > MaxSheetTiles {
		return n, fmt.Errorf("contact sheet: %d tiles; at most %d: use a longer --every or a shorter window", n, MaxSheetTiles)
	}
	return n, nil
}

type sheetTile struct {
	img image.Image
	ok  bool
}

// tile renders the thumbnail at instant at.
func (r SheetRequest) tile(ctx context.Context, at time.Time, checked map[string]bool) (sheetTile, error) {
	label := at.In(r.Location).Format("2006-01-02 15:04:05 MST")
	for _, seg := range r.Segments {
		if at.Before(seg.Start) || !at.Before(seg.End) {
			continue
		}
		if !checked[seg.File] {
			if err := CheckSealed(seg); err != nil {
				return sheetTile{}, fmt.Errorf("contact sheet: %w", err)
			}
			checked[seg.File] = true
		}
		pic, _, err := media.FrameAt(ctx, media.Source{Path: seg.Path, Start: seg.Start}, at)
		if errors.Is(err, media.ErrNoFrames) {
			break
		}
		if err != nil {
			return sheetTile{}, fmt.Errorf("contact sheet at %s: %w", label, err)
		}
		return sheetTile{img: withCaption(shrink(pic, sheetTileW), []string{label}), ok: true}, nil
	}
	why := "NO FOOTAGE"
	for _, g := range r.Gaps {
		if !at.Before(g.From) && at.Before(g.To) {
			why = "GAP: " + g.Reason
		}
	}
	blank := image.NewRGBA(image.Rect(0, 0, sheetTileW, sheetTileW*9/16))
	draw.Draw(blank, blank.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	drawText(blank, 8, 8, 2, why)
	return sheetTile{img: withCaption(blank, []string{label})}, nil
}

// shrink scales pic to w pixels wide (never up), averaging the pixels each
// thumbnail pixel covers.
func shrink(pic *image.RGBA, w int) *image.RGBA {
	b := pic.Bounds()
	if b.Dx() <= w {
		return pic
	}
	h := b.Dy() * w / b.Dx()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		y0, y1 := b.Min.Y+y*b.Dy()/h, b.Min.Y+(y+1)*b.Dy()/h
		for x := range w {
			x0, x1 := b.Min.X+x*b.Dx()/w, b.Min.X+(x+1)*b.Dx()/w
			var rs, gs, bs, n uint32
			for yy := y0; yy < max(y1, y0+1); yy++ {
				for xx := x0; xx < max(x1, x0+1); xx++ {
					c := pic.RGBAAt(xx, yy)
					rs, gs, bs, n = rs+uint32(c.R), gs+uint32(c.G), bs+uint32(c.B), n+1
				}
			}
			out.SetRGBA(x, y, color.RGBA{uint8(rs / n), uint8(gs / n), uint8(bs / n), 255})
		}
	}
	return out
}

// grid lays tiles out sheetColumns wide, each cell as large as the largest.
func grid(tiles []image.Image) *image.RGBA {
	cw, ch := 0, 0
	for _, t := range tiles {
		cw, ch = max(cw, t.Bounds().Dx()), max(ch, t.Bounds().Dy())
	}
	cols := min(sheetColumns, len(tiles))
	rows := (len(tiles) + cols - 1) / cols
	const gutter = 4
	out := image.NewRGBA(image.Rect(0, 0, cols*(cw+gutter)+gutter, rows*(ch+gutter)+gutter))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Gray{40}), image.Point{}, draw.Src)
	for i, t := range tiles {
		x, y := gutter+(i%cols)*(cw+gutter), gutter+(i/cols)*(ch+gutter)
		draw.Draw(out, image.Rect(x, y, x+t.Bounds().Dx(), y+t.Bounds().Dy()), t, t.Bounds().Min, draw.Src)
	}
	return out
}
