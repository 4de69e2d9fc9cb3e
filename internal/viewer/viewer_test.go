package viewer_test

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/council/cctv/internal/testutil"
	"github.com/council/cctv/internal/viewer"
)

// The grid mpv is given for several cameras is a filter graph FFmpeg
// accepts: fed as many test pictures, it draws the two-column grid.
func TestGridArgs_GraphRunsInFFmpeg(t *testing.T) {
	testutil.NeedTool(t, "ffmpeg")
	for _, n := range []int{2, 3, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			args := viewer.GridArgs("live", n)
			var graph string
			for _, a := range args {
				if g, ok := strings.CutPrefix(a, "--lavfi-complex="); ok {
					graph = g
				}
			}
			if graph == "" || args[len(args)-1] != "-" {
				t.Fatalf("no grid in %v", args)
			}
			cmd := []string{"-nostdin", "-v", "error"}
			for i := range n {
				cmd = append(cmd, "-f", "lavfi", "-i", "testsrc=size=320x240:duration=0.2")
				graph = strings.ReplaceAll(graph, fmt.Sprintf("[vid%d]", i+1), fmt.Sprintf("[%d:v]", i))
			}
			cmd = append(cmd, "-filter_complex", graph, "-map", "[vo]", "-f", "null", "-")
			if out, err := exec.Command("ffmpeg", cmd...).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("ffmpeg %v: %v\n%s", cmd, err, out)
			}
		})
	}
}

func TestArgs_PlayersAndUnknown(t *testing.T) {
	for _, p := range viewer.Players {
		args, err := viewer.Args(p, "camera desk")
		if err != nil || args[len(args)-1] != "-" {
			t.Errorf("%s: %v %v", p, args, err)
		}
	}
	if _, err := viewer.Args("totem", "x"); !errors.Is(err, viewer.ErrUnknownPlayer) {
		t.Errorf("unknown player: %v", err)
	}
}
