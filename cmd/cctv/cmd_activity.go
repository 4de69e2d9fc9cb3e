package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/timeline"
)

func cmdActivity() *cli.Command {
	return &cli.Command{
		Name:  "activity",
		Usage: "how much moved in a camera's picture, per minute, with gaps, holds and bookmarks (viewer)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "camera", Usage: "camera id", Required: true},
			&cli.StringFlag{Name: "from", Usage: "start of the window", Required: true},
			&cli.StringFlag{Name: "to", Usage: "end of the window", Required: true},
			&cli.DurationFlag{Name: "step", Value: time.Minute, Usage: "one cell per this long (whole seconds)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			from, to, err := parseWindow(c, cfg)
			if err != nil {
				return err
			}
			var out api.Activity
			if err := ask(c.Context, cfg, api.CmdActivity, api.ActivityRequest{Camera: c.String("camera"), From: from, To: to, Step: c.Duration("step")}, &out, nil); err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, out)
			}
			timeline.Render(c.App.Writer, out, cfg.Location, 60)
			return nil
		}),
	}
}
