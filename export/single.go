package export

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"time"

	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/store"
)

// StillRequest asks for one screen print outside a package (`cctv still`).
type StillRequest struct {
	Site, BoxID string
	Location    *time.Location
	Camera      string
	Segment     store.Segment // the sealed segment on screen at At
	At          time.Time
}

// StillJPEG renders the frame on screen at r.At with the caption band below
// the picture, as a JPEG: the frame's own wall time (site time with its
// zone, and UTC, to the millisecond), camera and box. It returns the frame's
// time too, which is at or before r.At.
func StillJPEG(ctx context.Context, r StillRequest) ([]byte, time.Time, error) {
	if err := CheckSealed(r.Segment); err != nil {
		return nil, time.Time{}, fmt.Errorf("still of %s: %w", r.Camera, err)
	}
	pic, when, err := media.FrameAt(ctx, media.Source{Path: r.Segment.Path, Start: r.Segment.Start}, r.At)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("still of %s at %s: %w", r.Camera, r.At.UTC().Format(time.RFC3339Nano), err)
	}
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	img := withCaption(pic, captionLines(loc, r.BoxID, r.Camera, when))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
		return nil, time.Time{}, fmt.Errorf("encode still: %w", err)
	}
	return buf.Bytes(), when, nil
}

// CheckSealed reads a recorded segment once and refuses it (wrapping
// ErrSealMismatch) unless its size and SHA-256 are still those of its seal.
func CheckSealed(s store.Segment) error {
	got, err := hashFile(s.Path)
	if err != nil {
		return fmt.Errorf("master %s: %w", s.File, err)
	}
	if got.sum != s.SHA256 || got.size != s.Bytes {
		return fmt.Errorf("master %s: %d bytes with SHA-256 %s, sealed as %d bytes with %s: %w",
			s.File, got.size, got.sum, s.Bytes, s.SHA256, ErrSealMismatch)
	}
	return nil
}
