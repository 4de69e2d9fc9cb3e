// Package viewer starts the video player that shows a stream from the
// daemon (playback or live view): mpv by default, ffplay or vlc on request.
// It only builds and runs the player's command line; the stream itself
// comes from the daemon over the socket.
package viewer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Players are the players Start knows, the first the default.
var Players = []string{"mpv", "ffplay", "vlc"}

// ErrUnknownPlayer is returned for a player not in Players.
var ErrUnknownPlayer = errors.New("unknown player")

// Headless reports whether no desktop session is reachable (no DISPLAY or
// WAYLAND_DISPLAY): mpv then draws straight to the screen (--vo=drm).
func Headless() bool { return os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" }

// Args returns the command line that plays a stream read from standard
// input with player, titled title. Subtitles (the site time) are switched
// on. For mpv with no desktop, --vo=drm draws on the console's screen.
func Args(player, title string) ([]string, error) {
	switch player {
	case "mpv":
		args := []string{"mpv", "--really-quiet", "--sid=1", "--sub-visibility=yes", "--force-media-title=" + title, "--keep-open=no"}
		if Headless() {
			args = append(args, "--vo=drm")
		}
		return append(args, "-"), nil
	case "ffplay":
		return []string{"ffplay", "-hide_banner", "-loglevel", "error", "-autoexit", "-window_title", title, "-"}, nil
	case "vlc":
		name := "vlc"
		if Headless() {
			name = "cvlc"
		}
		return []string{name, "--quiet", "--play-and-exit", "--sub-track=0", "--meta-title=" + title, "-"}, nil
	}
	return nil, fmt.Errorf("%w %q: use one of %v", ErrUnknownPlayer, player, Players)
}

// Command returns the player's process for args, reading standard input
// from the caller; its output goes to the caller's terminal.
func Command(args []string) (*exec.Cmd, error) {
	path, err := exec.LookPath(args[0])
	if err != nil {
		return nil, fmt.Errorf("%s is not installed (apt install %s), or use --out - and a player of your own: %w", args[0], pkgOf(args[0]), err)
	}
	cmd := exec.Command(path, args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd, nil
}

func pkgOf(name string) string {
	switch name {
	case "ffplay":
		return "ffmpeg"
	case "cvlc":
		return "vlc"
	}
	return name
}

// GridArgs returns the mpv command line that shows the n video streams of
// one live stream read from standard input side by side, two columns wide
// (mpv's --lavfi-complex with xstack), each scaled to 640x360.
func GridArgs(title string, n int) []string {
	args := []string{"mpv", "--really-quiet", "--profile=low-latency", "--force-media-title=" + title}
	if Headless() {
		args = append(args, "--vo=drm")
	}
	if n > 1 {
		var graph, layout strings.Builder
		for i := range n {
			fmt.Fprintf(&graph, "[vid%d]scale=640:360,setsar=1[v%d];", i+1, i)
		}
		for i := range n {
			fmt.Fprintf(&graph, "[v%d]", i)
			if i > 0 {
				layout.WriteString("|")
			}
			fmt.Fprintf(&layout, "%d_%d", (i%2)*640, (i/2)*360)
		}
		fmt.Fprintf(&graph, "xstack=inputs=%d:layout=%s:fill=black[vo]", n, layout.String())
		args = append(args, "--lavfi-complex="+graph.String())
	}
	return append(args, "-")
}
