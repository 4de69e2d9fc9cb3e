package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/termtext"
	"github.com/council/cctv/internal/timeinput"
)

func cmdSAR() *cli.Command {
	return &cli.Command{
		Name:  "sar",
		Usage: "subject access requests: register, hold the footage, track the one-month deadline, redact and disclose (supervisor)",
		Subcommands: []*cli.Command{
			{
				Name:  "open",
				Usage: "register a request and hold its footage at once",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "ref", Usage: "the request's reference, e.g. SAR-2026-014", Required: true},
					&cli.StringFlag{Name: "subject", Usage: "description of the person, to find them in the footage", Required: true},
					&cli.StringFlag{Name: "received", Usage: "when the request was received (the one-month deadline counts from it)", Required: true},
					&cli.StringFlag{Name: "camera", Usage: "camera id, or several separated by commas", Required: true},
					&cli.StringFlag{Name: "from", Usage: "start of the footage asked for", Required: true},
					&cli.StringFlag{Name: "to", Usage: "end of the footage asked for", Required: true},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
				},
				Action: configAction(func(c *cli.Context, cfg *config.Config) error {
					from, to, err := parseWindow(c, cfg)
					if err != nil {
						return err
					}
					received, err := timeinput.Parse(c.String("received"), cfg.Location)
					if err != nil {
						return err
					}
					a := api.SAROpenRequest{Ref: c.String("ref"), Subject: c.String("subject"), Received: received, From: from, To: to}
					for _, id := range strings.Split(c.String("camera"), ",") {
						if id = strings.TrimSpace(id); id != "" {
							a.Cameras = append(a.Cameras, id)
						}
					}
					var out api.SAR
					if err := ask(c.Context, cfg, api.CmdSAROpen, a, &out, nil); err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					fmt.Fprintf(c.App.Writer, "registered subject access request %s; its footage is held (%s) until it is closed\n", termtext.Esc(out.Ref), strings.Join(out.Holds, ", "))
					printSARs(c.App.Writer, []api.SAR{out}, cfg.Location)
					return nil
				}),
			},
			{
				Name:  "list",
				Usage: "open requests with their due dates (--all: closed ones too)",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "all", Usage: "include closed requests"},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
				},
				Action: configAction(func(c *cli.Context, cfg *config.Config) error {
					var out []api.SAR
					if err := ask(c.Context, cfg, api.CmdSARList, c.Bool("all"), &out, nil); err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					printSARs(c.App.Writer, out, cfg.Location)
					return nil
				}),
			},
			{
				Name:      "close",
				Usage:     "close a request with its outcome, releasing its holds (a supervisor other than the one who opened it)",
				ArgsUsage: "REF",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "outcome", Usage: `what was done, e.g. "disclosed on 2026-12-10"`}},
				Action: func(c *cli.Context) error {
					ref, outcome, err := idAndText(c, "outcome", "give the request to close: cctv sar close REF --outcome …")
					if err != nil {
						return err
					}
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					var out api.SAR
					if err := ask(c.Context, cfg, api.CmdSARClose, api.SARCloseRequest{Ref: ref, Outcome: outcome}, &out, nil); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "closed subject access request %s; its holds are released: the footage now follows normal retention\n", termtext.Esc(out.Ref))
					return nil
				},
			},
			sarPreviewCommand(),
			sarExportCommand(),
		},
	}
}

func printSARs(w io.Writer, rs []api.SAR, loc *time.Location) {
	if len(rs) == 0 {
		fmt.Fprintln(w, "no subject access requests")
		return
	}
	for _, r := range rs {
		state := "open, due " + r.Due.In(loc).Format("2006-01-02")
		switch {
		case r.Closed:
			state = "closed by " + r.ClosedBy + ": " + r.Outcome
		case r.Overdue:
			state = "OVERDUE since " + r.Due.In(loc).Format("2006-01-02")
		}
		fmt.Fprintf(w, "%s  received %s  %s\n    cameras %s  %s – %s  holds %s\n    subject: %s\n",
			termtext.Esc(r.Ref), r.Received.In(loc).Format("2006-01-02"), termtext.Esc(state), termtext.Esc(strings.Join(r.Cameras, ",")),
			localTime(r.From, loc), localTime(r.To, loc), strings.Join(r.Holds, ","), termtext.Esc(r.Subject))
	}
}
