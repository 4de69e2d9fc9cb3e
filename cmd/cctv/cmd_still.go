package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

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
			var res api.StillResult
			if err := askJPEG(c, cfg, api.CmdStill, api.StillRequest{Camera: c.String("camera"), At: at}, &res, &res.Bytes, out); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s: camera %s at %s (frame of %s)\n", out, res.Camera,
				res.At.In(cfg.Location).Format("2006-01-02 15:04:05.000 MST"), res.FrameTime.In(cfg.Location).Format("15:04:05.000"))
			return nil
		}),
	}
}

// askJPEG asks for a picture (a still, a contact sheet) and writes it to a
// new file out, never replacing one; *size is where the answer says how
// many bytes follow.
func askJPEG(c *cli.Context, cfg *config.Config, command string, args, res any, size *int, out string) error {
	if _, err := os.Lstat(out); err == nil {
		return badInput(nil, out+" already exists", "choose another file name")
	}
	var img bytes.Buffer
	err := ask(c.Context, cfg, command, args, res, func(r io.Reader) (any, error) {
		_, err := io.Copy(&img, io.LimitReader(r, int64(*size)+1))
		return nil, err
	})
	if err != nil {
		return err
	}
	if img.Len() != *size || *size == 0 {
		return failed(nil, fmt.Sprintf("received %d of %d bytes of the picture", img.Len(), *size), "try again")
	}
	if err := fsutil.WriteNew(out, img.Bytes(), 0o644); err != nil {
		return failed(err, "write "+out+": "+err.Error())
	}
	return nil
}

func cmdSheet() *cli.Command {
	return &cli.Command{
		Name:  "sheet",
		Usage: "a contact sheet: a thumbnail every few minutes, to find a moment (viewer; audited as a view)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "camera", Usage: "camera id", Required: true},
			&cli.StringFlag{Name: "from", Usage: "start of the window", Required: true},
			&cli.StringFlag{Name: "to", Usage: "end of the window", Required: true},
			&cli.DurationFlag{Name: "every", Value: 5 * time.Minute, Usage: "one thumbnail every this long"},
			&cli.StringFlag{Name: "reason", Usage: "why you look, for the audit log"},
			&cli.StringFlag{Name: "out", Usage: "the JPEG file to write (never overwritten)", Required: true},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			from, to, err := parseWindow(c, cfg)
			if err != nil {
				return err
			}
			var res api.SheetResult
			a := api.SheetRequest{Camera: c.String("camera"), From: from, To: to, Every: c.Duration("every"), Reason: c.String("reason")}
			if err := askJPEG(c, cfg, api.CmdSheet, a, &res, &res.Bytes, c.String("out")); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s: %d thumbnails of camera %s, %s to %s", c.String("out"), res.Tiles, a.Camera,
				localTime(from, cfg.Location), localTime(to, cfg.Location))
			if res.Missing > 0 {
				fmt.Fprintf(c.App.Writer, " (%d instants without footage, marked on the sheet)", res.Missing)
			}
			fmt.Fprintln(c.App.Writer)
			return nil
		}),
	}
}
