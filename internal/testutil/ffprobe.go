// Package testutil holds helpers that tests use to judge output with
// independent tools (ffprobe, ffmpeg) rather than with our own code.
package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Packet is one video packet as ffprobe reports it.
type Packet struct {
	PTS  float64 // seconds
	DTS  float64
	Key  bool
	Size int
	// HasPTS is false for a packet without a timestamp: FFmpeg's H.264
	// parser splits an access unit at parameter sets repeated after a
	// slice, and only the first part carries the PES timestamp.
	HasPTS bool
}

// Probe describes a media file as ffprobe sees it.
type Probe struct {
	Codec   string
	Width   int
	Height  int
	Packets []Packet
}

// Duration is the span covered by the packets: last PTS minus first PTS
// plus one frame interval.
func (p Probe) Duration() time.Duration {
	if len(p.Packets) < 2 {
		return 0
	}
	first, last := p.Packets[0].PTS, p.Packets[0].PTS
	for _, pk := range p.Packets {
		first, last = min(first, pk.PTS), max(last, pk.PTS)
	}
	step := (last - first) / float64(len(p.Packets)-1)
	return time.Duration((last - first + step) * float64(time.Second))
}

// FFprobe runs the real ffprobe on path and returns its video stream and
// packets, failing the test if ffprobe cannot read the file.
func FFprobe(t testing.TB, path string) Probe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height:packet=pts_time,dts_time,flags,size",
		"-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", path, err, stderrOf(err))
	}
	var raw struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
		} `json:"streams"`
		Packets []struct {
			PTS   string `json:"pts_time"`
			DTS   string `json:"dts_time"`
			Flags string `json:"flags"`
			Size  string `json:"size"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("ffprobe %s: parse output: %v", path, err)
	}
	var p Probe
	if len(raw.Streams) > 0 {
		p.Codec, p.Width, p.Height = raw.Streams[0].CodecName, raw.Streams[0].Width, raw.Streams[0].Height
	}
	for _, r := range raw.Packets {
		pts, _ := strconv.ParseFloat(r.PTS, 64)
		dts, _ := strconv.ParseFloat(r.DTS, 64)
		size, _ := strconv.Atoi(r.Size)
		p.Packets = append(p.Packets, Packet{PTS: pts, DTS: dts, Key: len(r.Flags) > 0 && r.Flags[0] == 'K', Size: size,
			HasPTS: r.PTS != "" && r.PTS != "N/A"})
	}
	return p
}

// Decode runs `ffmpeg -v error -i path -f null -` and fails the test if
// ffmpeg reports any error while decoding every frame. It returns the number
// of frames decoded.
func Decode(t testing.TB, path string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path,
		"-map", "0:v:0", "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg decode %s: %v: %s", path, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Fatalf("ffmpeg decode %s reported errors:\n%s", path, stderr.String())
	}
	return len(FFprobe(t, path).Packets)
}

// Timed counts the packets that carry a timestamp: the access units of an
// MPEG-TS whose parameter sets are repeated before every slice.
func (p Probe) Timed() int {
	n := 0
	for _, pk := range p.Packets {
		if pk.HasPTS {
			n++
		}
	}
	return n
}

// CountFrames runs ffprobe -count_frames on the first video stream of path
// and returns the packets read and the frames decoded.
func CountFrames(path string) (packets, frames int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-count_packets",
		"-show_entries", "stream=nb_read_frames,nb_read_packets", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("ffprobe -count_frames %s: %v: %s", path, err, stderrOf(err))
	}
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%d,%d", &frames, &packets); err != nil {
		return 0, 0, fmt.Errorf("ffprobe -count_frames %s: %q: %v", path, out, err)
	}
	return packets, frames, nil
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
