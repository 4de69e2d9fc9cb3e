package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"
)

// Names inside data_dir.
const (
	markerName    = ".cctv-data"
	indexName     = "index.db"
	segmentsDir   = "segments"
	quarantineDir = "quarantine"
	formatVersion = 1

	dirPerm  = 0o750
	filePerm = 0o640
)

const nameTime = "20060102T150405.000"

func markerContent(box string) []byte {
	return fmt.Appendf(nil, "cctv data directory\nformat %d\nbox %s\n", formatVersion, box)
}

// parseMarker returns the box ID recorded in a marker file.
func parseMarker(b []byte) (string, error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) < 3 || lines[0] != "cctv data directory" {
		return "", fmt.Errorf("not a cctv marker")
	}
	if lines[1] != fmt.Sprintf("format %d", formatVersion) {
		return "", fmt.Errorf("unsupported %q: %w", lines[1], ErrSchema)
	}
	box, ok := strings.CutPrefix(lines[2], "box ")
	if !ok || validBox(box) != nil {
		return "", fmt.Errorf("bad box line %q", lines[2])
	}
	return box, nil
}

func validBox(box string) error {
	if box == "" || len(box) > 128 || strings.ContainsAny(box, "\n\r\x00") ||
		strings.TrimSpace(box) != box {
		return fmt.Errorf("invalid box id %q", box)
	}
	return nil
}

// ValidCamera reports whether id can name a camera in the store: 1–64
// characters from [A-Za-z0-9._-], not starting with '.' or '-'. Camera IDs
// become directory and file names, so this is strict.
func ValidCamera(id string) error {
	if id == "" || len(id) > 64 || id[0] == '.' || id[0] == '-' {
		return fmt.Errorf("invalid camera id %q", id)
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("invalid camera id %q", id)
		}
	}
	return nil
}

// segmentRel is the slash-separated path, relative to data_dir, of the n-th
// candidate name for a segment of camera starting at start (n = 0 is the plain
// name; n > 0 adds "_n", used when the clock stepped back onto an existing name).
func segmentRel(camera string, start time.Time, n int) string {
	start = start.UTC()
	if y := start.Year(); y >= 0 && y <= 9999 && camera != "" && camera != "." && camera != ".." &&
		!strings.Contains(camera, "/") {
		// What path.Join makes of it, without cleaning: a check walks
		// millions of these.
		var buf [160]byte
		b := append(buf[:0], segmentsDir+"/"...)
		b = append(b, camera...)
		b = append(b, '/')
		y, mo, d := start.Date()
		h, mi, sec := start.Clock()
		b = appendDigits(b, y, 4)
		b = append(b, '-')
		b = appendDigits(b, int(mo), 2)
		b = append(b, '-')
		b = appendDigits(b, d, 2)
		b = append(b, '/')
		b = append(b, camera...)
		b = append(b, '_')
		// nameTime: the digits of the date and time, milliseconds truncated.
		b = appendDigits(b, y, 4)
		b = appendDigits(b, int(mo), 2)
		b = appendDigits(b, d, 2)
		b = append(b, 'T')
		b = appendDigits(b, h, 2)
		b = appendDigits(b, mi, 2)
		b = appendDigits(b, sec, 2)
		b = append(b, '.')
		b = appendDigits(b, start.Nanosecond()/1e6, 3)
		b = append(b, 'Z')
		if n > 0 {
			b = append(b, '_')
			b = strconv.AppendInt(b, int64(n), 10)
		}
		b = append(b, ".ts"...)
		return string(b)
	}
	name := camera + "_" + start.Format(nameTime) + "Z"
	if n > 0 {
		name += "_" + strconv.Itoa(n)
	}
	return path.Join(segmentsDir, camera, start.Format(time.DateOnly), name+".ts")
}

// appendDigits appends the last width (at most 4) decimal digits of v
// (≥ 0), with leading zeros.
func appendDigits(b []byte, v, width int) []byte {
	n := len(b) + width
	b = append(b, "0000"[:width]...) // width ≤ 4
	for i := n - 1; i >= n-width; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// parseSegmentRel inverts segmentRel: it returns the camera and the start time
// (millisecond precision) of a well-formed segment path.
func parseSegmentRel(rel string) (camera string, start time.Time, ok bool) {
	parts := strings.Split(rel, "/")
	if len(parts) != 4 || parts[0] != segmentsDir {
		return "", time.Time{}, false
	}
	camera, day, name := parts[1], parts[2], parts[3]
	if ValidCamera(camera) != nil {
		return "", time.Time{}, false
	}
	rest, ok := strings.CutPrefix(name, camera+"_")
	if !ok {
		return "", time.Time{}, false
	}
	rest, ok = strings.CutSuffix(rest, ".ts")
	if !ok || len(rest) < len(nameTime)+1 || rest[len(nameTime)] != 'Z' {
		return "", time.Time{}, false
	}
	if sfx := rest[len(nameTime)+1:]; sfx != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(sfx, "_"))
		if !strings.HasPrefix(sfx, "_") || err != nil || n <= 0 || sfx != "_"+strconv.Itoa(n) {
			return "", time.Time{}, false
		}
	}
	start, err := time.Parse(nameTime, rest[:len(nameTime)])
	if err != nil || start.Format(time.DateOnly) != day {
		return "", time.Time{}, false
	}
	return camera, start.UTC(), true
}

// Index keys. Segments and disposals: camera 0x00 start(8) dup(2); gaps:
// camera 0x00 from(8) seq(8). Times are big-endian nanoseconds with the sign
// bit flipped, so byte order is time order and a window query is a seek.

func timeBytes(t time.Time) uint64 {
	// Clamp to the range UnixNano can represent (years 1678–2261), so that
	// the zero time and far-future bounds work as open-ended windows.
	var ns int64
	switch {
	case t.Year() < 1678:
		ns = math.MinInt64
	case t.Year() > 2261:
		ns = math.MaxInt64
	default:
		ns = t.UnixNano()
	}
	return uint64(ns) ^ 1<<63
}

// keyTime is the time of the 8-byte time at the head of b (timeBytes).
func keyTime(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)^1<<63)).UTC()
}

func cameraPrefix(camera string) []byte {
	return append([]byte(camera), 0)
}

func timeKey(camera string, t time.Time) []byte {
	k := cameraPrefix(camera)
	v := timeBytes(t)
	for i := 7; i >= 0; i-- {
		k = append(k, byte(v>>(8*i)))
	}
	return k
}

func segKey(camera string, start time.Time, dup uint16) []byte {
	return append(timeKey(camera, start), byte(dup>>8), byte(dup))
}

func keyCamera(k []byte) string {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return ""
	}
	return string(k[:i])
}
