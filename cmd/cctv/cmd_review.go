package main

import (
	"context"
	"os"
	"os/exec"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/review"
	"github.com/council/cctv/internal/timeinput"
)

func cmdReview() *cli.Command {
	return &cli.Command{
		Name:  "review",
		Usage: "browse every camera's activity in the terminal; Enter plays, s still, m bookmark, h hold (viewer; audited as a view)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "start of the first window (default: an hour ago)"},
			&cli.DurationFlag{Name: "step", Value: time.Minute, Usage: "one cell per this long"},
			&cli.StringFlag{Name: "reason", Usage: "why you look, for the audit log"},
			&cli.StringFlag{Name: "player", Value: "mpv", Usage: "player for Enter: mpv, ffplay or vlc"},
			&cli.StringFlag{Name: "stills", Value: ".", Usage: "directory for the stills saved with s"},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			o := review.Options{Client: reviewClient{cfg}, Location: cfg.Location, Step: c.Duration("step"), Reason: c.String("reason")}
			if c.String("from") != "" {
				from, err := timeinput.Parse(c.String("from"), cfg.Location)
				if err != nil {
					return err
				}
				o.From = from
			}
			self, err := os.Executable()
			if err != nil {
				return failed(err, "cannot find the cctv program to play with: "+err.Error())
			}
			base := []string{"--config", c.String("config")}
			o.Play = func(camera string, from, to time.Time) *exec.Cmd {
				return exec.Command(self, append(base, "play", "--camera", camera, "--from", from.Format(time.RFC3339Nano),
					"--to", to.Format(time.RFC3339Nano), "--player", c.String("player"), "--reason", "review: "+c.String("reason"))...)
			}
			o.Still = func(camera string, at time.Time) *exec.Cmd {
				name := "still-" + camera + "-" + at.In(cfg.Location).Format("20060102-150405") + ".jpg"
				return exec.Command(self, append(base, "still", "--camera", camera, "--at", at.Format(time.RFC3339Nano), "--out", c.String("stills")+"/"+name)...)
			}
			return review.Run(c.Context, o)
		}),
	}
}

// reviewClient asks the daemon for what review shows and does.
type reviewClient struct{ cfg *config.Config }

func (r reviewClient) Cameras(ctx context.Context) ([]string, error) {
	var st api.Status
	if err := ask(ctx, r.cfg, api.CmdStatus, nil, &st, nil); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range st.Cameras {
		out = append(out, c.Camera)
	}
	return out, nil
}

func (r reviewClient) Activity(ctx context.Context, a api.ActivityRequest) (api.Activity, error) {
	var out api.Activity
	return out, ask(ctx, r.cfg, api.CmdActivity, a, &out, nil)
}

func (r reviewClient) AddMark(ctx context.Context, a api.MarkAddRequest) (api.Mark, error) {
	var out api.Mark
	return out, ask(ctx, r.cfg, api.CmdMarkAdd, a, &out, nil)
}

func (r reviewClient) AddHold(ctx context.Context, a api.HoldAddRequest) (api.Hold, error) {
	var out api.Hold
	return out, ask(ctx, r.cfg, api.CmdHoldAdd, a, &out, nil)
}

func (r reviewClient) Log(ctx context.Context, a api.ReviewRequest) error {
	return ask(ctx, r.cfg, api.CmdReview, a, nil, nil)
}
