package export

import (
	"image"
	"image/color"
	"image/draw"
)

// glyphs is a 5x7 bitmap font: seven rows of five pixels per character,
// '#' set. Text is drawn in upper case; characters without a glyph are drawn
// as '?'.
var glyphs = map[rune][7]string{
	'0': {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "},
	'1': {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "},
	'2': {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"},
	'3': {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "},
	'4': {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "},
	'5': {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "},
	'6': {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "},
	'7': {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "},
	'8': {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "},
	'9': {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "},
	'A': {" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"},
	'B': {"#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "},
	'C': {" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "},
	'D': {"###  ", "#  # ", "#   #", "#   #", "#   #", "#  # ", "###  "},
	'E': {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"},
	'F': {"#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "},
	'G': {" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"},
	'H': {"#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"},
	'I': {" ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "},
	'J': {"  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "},
	'K': {"#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"},
	'L': {"#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"},
	'M': {"#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"},
	'N': {"#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"},
	'O': {" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "},
	'P': {"#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "},
	'Q': {" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"},
	'R': {"#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"},
	'S': {" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "},
	'T': {"#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "},
	'U': {"#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "},
	'V': {"#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "},
	'W': {"#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "},
	'X': {"#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"},
	'Y': {"#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "},
	'Z': {"#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"},
	' ': {"     ", "     ", "     ", "     ", "     ", "     ", "     "},
	'-': {"     ", "     ", "     ", "#####", "     ", "     ", "     "},
	'+': {"     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "},
	':': {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "},
	'.': {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "},
	',': {"     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "},
	'_': {"     ", "     ", "     ", "     ", "     ", "     ", "#####"},
	'/': {"     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     "},
	'(': {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "},
	')': {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "},
	'?': {" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "},
}

const (
	glyphW, glyphH = 5, 7
	advance        = glyphW + 1 // pixels per character at scale 1
	lineH          = glyphH + 3 // pixels per line at scale 1
	padding        = 4          // around the text, at scale 1
)

// captionScale is the pixel size of the font for a picture w pixels wide
// and the longest caption line of n characters: as large as fits, at least 1.
func captionScale(w, n int) int {
	s := (w - 2*padding) / (n*advance + 2*padding)
	return max(1, min(s, 4))
}

// withCaption returns a new image: pic with a black band below it holding
// lines in white. The picture itself is not altered or covered.
func withCaption(pic image.Image, lines []string) *image.RGBA {
	b := pic.Bounds()
	longest := 0
	for _, l := range lines {
		longest = max(longest, len([]rune(l)))
	}
	s := captionScale(b.Dx(), longest)
	band := (len(lines)*lineH + 2*padding) * s
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()+band))
	draw.Draw(out, image.Rect(0, 0, b.Dx(), b.Dy()), pic, b.Min, draw.Src)
	draw.Draw(out, image.Rect(0, b.Dy(), b.Dx(), b.Dy()+band), image.NewUniform(color.Black), image.Point{}, draw.Src)
	for i, l := range lines {
		drawText(out, padding*s, b.Dy()+(padding+i*lineH)*s, s, l)
	}
	return out
}

func drawText(img *image.RGBA, x0, y0, s int, text string) {
	white := color.RGBA{255, 255, 255, 255}
	drawGlyphs(func(x, y int) { img.SetRGBA(x, y, white) }, x0, y0, s, text)
}
