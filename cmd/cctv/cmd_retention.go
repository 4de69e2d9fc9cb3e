package main

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/termtext"
)

func cmdRetention() *cli.Command {
	return &cli.Command{
		Name:  "retention",
		Usage: "what the next retention pass would delete, and why (--dry-run)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "show, delete nothing (the only mode: deletion is the recorder's job)", Required: true},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			var out api.RetentionPlan
			if err := ask(c.Context, cfg, api.CmdRetention, nil, &out, nil); err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, out)
			}
			printRetention(c.App.Writer, out, cfg.Location)
			return nil
		}),
	}
}

func printRetention(w io.Writer, r api.RetentionPlan, loc *time.Location) {
	if r.Paused {
		fmt.Fprintf(w, "DELETION IS PAUSED: %s\n  a supervisor confirms the clock with: cctv time confirm\n\n", termtext.Esc(r.Why))
	}
	var bytes int64
	for _, s := range r.Delete {
		bytes += s.Bytes
	}
	fmt.Fprintf(w, "the next pass would delete %d segment(s), %.1f MB:\n", len(r.Delete), float64(bytes)/1e6)
	for _, s := range r.Delete {
		fmt.Fprintf(w, "  %s  %s – %s  %s\n", s.Camera, localTime(s.Start, loc), s.End.In(loc).Format("15:04:05"), termtext.Esc(s.Reason))
	}
	if len(r.KeptHeld) > 0 {
		fmt.Fprintf(w, "kept although expired, because of a legal hold:\n")
		for _, s := range r.KeptHeld {
			fmt.Fprintf(w, "  %s  %s – %s  %s\n", s.Camera, localTime(s.Start, loc), s.End.In(loc).Format("15:04:05"), termtext.Esc(s.Reason))
		}
	}
}

func cmdTime() *cli.Command {
	return &cli.Command{
		Name:  "time",
		Usage: "the box clock",
		Subcommands: []*cli.Command{{
			Name:  "confirm",
			Usage: "confirm the box clock is right after a jump, resuming deletion (supervisor)",
			Action: configAction(func(c *cli.Context, cfg *config.Config) error {
				if err := ask(c.Context, cfg, api.CmdTimeConfirm, nil, nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "clock confirmed as %s: deletion resumes\n", localTime(time.Now(), cfg.Location))
				return nil
			}),
		}},
	}
}
