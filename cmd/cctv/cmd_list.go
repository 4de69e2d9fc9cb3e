package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/termtext"
	"github.com/council/cctv/internal/timeinput"
)

func cmdList() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "recordings and gaps in a window",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "camera", Usage: "camera id (default: every camera)"},
			&cli.StringFlag{Name: "from", Usage: `start: RFC 3339 or "YYYY-MM-DD HH:MM[:SS]" in the site timezone`, Required: true},
			&cli.StringFlag{Name: "to", Usage: "end, same forms as --from", Required: true},
			&cli.BoolFlag{Name: "deleted", Usage: "also show disposal records: what was deleted in the window, when and why"},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			from, to, err := parseWindow(c, cfg)
			if err != nil {
				return err
			}
			args := api.ListRequest{Camera: c.String("camera"), From: from, To: to, Deleted: c.Bool("deleted")}
			var out api.List
			if err := ask(c.Context, cfg, api.CmdList, args, &out, nil); err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, out)
			}
			printList(c.App.Writer, out, cfg.Location)
			return nil
		}),
	}
}

func parseWindow(c *cli.Context, cfg *config.Config) (from, to time.Time, err error) {
	from, err = timeinput.Parse(c.String("from"), cfg.Location)
	if err != nil {
		return from, to, err
	}
	to, err = timeinput.Parse(c.String("to"), cfg.Location)
	if err != nil {
		return from, to, err
	}
	if !to.After(from) {
		return from, to, badInput(nil, "--to must be after --from")
	}
	return from, to, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// localTime formats t in the site timezone with its abbreviation.
func localTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

func printList(w io.Writer, out api.List, loc *time.Location) {
	fmt.Fprintf(w, "window %s to %s\n", localTime(out.From, loc), localTime(out.To, loc))
	for _, c := range out.Cameras {
		fmt.Fprintf(w, "\ncamera %s: %d segments, %d gaps\n", c.Camera, len(c.Segments), len(c.Gaps))
		for _, s := range c.Segments {
			fmt.Fprintf(w, "  %s – %s  %7.1f MB  %-9s %-7s %s\n", localTime(s.Start, loc), s.End.In(loc).Format("15:04:05"),
				float64(s.Bytes)/1e6, s.Seal, s.TimeSource, s.File)
		}
		for _, g := range c.Gaps {
			if g.Ongoing {
				fmt.Fprintf(w, "  gap %s – now, ongoing: %s\n", localTime(g.From, loc), termtext.Esc(g.Reason))
				continue
			}
			fmt.Fprintf(w, "  gap %s – %s  %s\n", localTime(g.From, loc), g.To.In(loc).Format("15:04:05"), termtext.Esc(g.Reason))
		}
		for _, m := range c.Marks {
			fmt.Fprintf(w, "  bookmark %s %s  by %s: %s\n", termtext.Esc(m.ID), localTime(m.At, loc), termtext.Esc(m.By), termtext.Esc(m.Note))
		}
		for _, d := range c.Deleted {
			fmt.Fprintf(w, "  deleted %s – %s  on %s (%s)  sha256 %s\n", localTime(d.Start, loc), d.End.In(loc).Format("15:04:05"),
				localTime(d.Deleted, loc), d.Why, d.SHA256)
		}
	}
}
