package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/internal/demo"
)

func cmdDemo() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "record synthetic cameras through the real recorder into a temporary data dir",
		Description: "Starts two synthetic cameras in-process (H.264 over RTSP/TCP, H.265 over RTSP/UDP),\n" +
			"records them, checks the store, exports and verifies a package, and prints where everything is.\n" +
			"No config needed.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Value: 20 * time.Second, Usage: "how long to record"},
			&cli.StringFlag{Name: "dir", Usage: "where to put the demo box (default: a new temporary directory)"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			if c.Duration("duration") < 2*time.Second {
				return badInput(nil, "--duration must be at least 2s")
			}
			w := c.App.Writer
			r, err := demo.Run(c.Context, demo.Options{Dir: c.String("dir"), Duration: c.Duration("duration"), Progress: w})
			if err != nil {
				return failed(err, err.Error())
			}
			loc := r.Config.Location
			// The commands below must run as printed: after `make demo` cctv
			// is bin/cctv, not on PATH.
			self := "cctv"
			if strings.Contains(os.Args[0], "/") {
				self = os.Args[0]
			}
			printList(w, r.List, loc)
			fmt.Fprintf(w, "\nstore check: index, files and seals agree (every segment re-hashed)\n")
			fmt.Fprintf(w, "\nexported %s – %s (both cameras, one still) and verified it:\n  %s\n",
				localTime(r.From, loc), r.To.In(loc).Format("15:04:05"), r.Package)
			fmt.Fprintf(w, "\nthe police verify it with OpenSSH and coreutils alone:\n")
			fmt.Fprintf(w, "  cd %s\n", r.Package)
			fmt.Fprintf(w, "  ssh-keygen -Y verify -f allowed_signers -I %s -n cctv-evidence -s SHA256SUMS.sig < SHA256SUMS\n", r.Config.BoxID)
			fmt.Fprintf(w, "  sha256sum --strict -c SHA256SUMS\n")
			fmt.Fprintf(w, "or all of it, seals included: %s verify --fingerprint %s %s\n", self, r.Fingerprint, r.Package)
			fmt.Fprintf(w, "\nthe demo box is in %s. Try:\n", r.Dir)
			fmt.Fprintf(w, "  ffprobe -hide_banner %s\n", filepath.Join(r.Package, "video", "front-desk.mp4"))
			fmt.Fprintf(w, "  %s --config %s list --from %q --to %q\n", self, r.ConfigPath,
				r.List.From.Format(time.RFC3339), r.List.To.Format(time.RFC3339))
			fmt.Fprintf(w, "  %s --config %s audit list\n", self, r.ConfigPath)
			fmt.Fprintf(w, "  %s --config %s check --deep\n", self, r.ConfigPath)
			fmt.Fprintf(w, "(the demo's recorder ran only while the demo did: status now says it is not running)\n")
			fmt.Fprintf(w, "remove it with: rm -r %s\n", strings.TrimSuffix(r.Dir, "/"))
			return nil
		},
	}
}
