package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/viewer"
)

func cmdLive() *cli.Command {
	return &cli.Command{
		Name:  "live",
		Usage: "watch cameras live, several as a grid in mpv (viewer; audited as a view)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "camera", Usage: "camera id, or several separated by commas (at most 9)", Required: true},
			&cli.StringFlag{Name: "reason", Usage: "why you look, for the audit log"},
			&cli.StringFlag{Name: "player", Value: "mpv", Usage: "mpv, ffplay or vlc (a grid of several cameras needs mpv)"},
			&cli.StringFlag{Name: "out", Usage: "- writes the MPEG-TS (one video stream per camera) to standard output instead"},
			&cli.DurationFlag{Name: "for", Usage: "stop after this long (default: until the player quits or Ctrl-C)"},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			cams := strings.Split(c.String("camera"), ",")
			title := "live: " + strings.Join(cams, ", ")
			argv := viewer.GridArgs(title, len(cams))
			if p := c.String("player"); p != "mpv" {
				if len(cams) > 1 && c.String("out") == "" {
					return badInput(nil, "a grid of several cameras needs mpv", "use --player mpv, or one camera per player")
				}
				var err error
				if argv, err = viewer.Args(p, title); err != nil {
					return badInput(err, err.Error())
				}
			}
			if d := c.Duration("for"); d > 0 {
				ctx, cancel := context.WithTimeout(c.Context, d)
				defer cancel()
				c.Context = ctx
			}
			var res api.LiveResult
			return playStream(c, cfg, api.CmdLive, api.LiveRequest{Cameras: cams, Reason: c.String("reason")}, &res, argv, false, func(info io.Writer) {
				fmt.Fprintf(info, "live: %s (%s)\n", strings.Join(res.Cameras, ", "), strings.Join(res.Codecs, ", "))
			})
		}),
	}
}
