package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/timeinput"
)

func cmdStill() *cli.Command {
	return &cli.Command{
		Name:  "still",
		Usage: "a single screen print with the date and time in the picture (operator; audited)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "camera", Usage: "camera id", Required: true},
			&cli.StringFlag{Name: "at", Usage: "the instant: RFC 3339 or \"YYYY-MM-DD HH:MM:SS[.mmm]\" in the site timezone", Required: true},
			&cli.StringFlag{Name: "out", Usage: "the JPEG file to write (never overwritten)", Required: true},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			at, err := timeinput.Parse(c.String("at"), cfg.Location)
			if err != nil {
				return err
			}
			out := c.String("out")
			if _, err := os.Lstat(out); err == nil {
				return badInput(nil, out+" already exists", "choose another file name")
			}
			var res api.StillResult
			var img bytes.Buffer
			err = ask(c.Context, cfg, api.CmdStill, api.StillRequest{Camera: c.String("camera"), At: at}, &res, func(r io.Reader) (any, error) {
				_, err := io.Copy(&img, io.LimitReader(r, int64(res.Bytes)+1))
				return nil, err
			})
			if err != nil {
				return err
			}
			if img.Len() != res.Bytes || res.Bytes == 0 {
				return failed(nil, fmt.Sprintf("received %d of %d bytes of the still", img.Len(), res.Bytes), "try again")
			}
			if err := fsutil.WriteNew(out, img.Bytes(), 0o644); err != nil {
				return failed(err, "write "+out+": "+err.Error())
			}
			fmt.Fprintf(c.App.Writer, "%s: camera %s at %s (frame of %s)\n", out, res.Camera,
				res.At.In(cfg.Location).Format("2006-01-02 15:04:05.000 MST"), res.FrameTime.In(cfg.Location).Format("15:04:05.000"))
			return nil
		}),
	}
}
