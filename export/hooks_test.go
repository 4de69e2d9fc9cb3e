package export

import (
	"image"
	"time"
)

// CaptionedForTest returns pic with the caption band a still of camera on
// box would carry for a frame at frame (site time in loc): what the tests
// compare a still's pixels with.
func CaptionedForTest(pic image.Image, loc *time.Location, box, camera string, frame time.Time) *image.RGBA {
	return withCaption(pic, captionLines(loc, box, camera, frame))
}
