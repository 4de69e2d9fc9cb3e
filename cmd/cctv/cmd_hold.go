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

func cmdHold() *cli.Command {
	return &cli.Command{
		Name:  "hold",
		Usage: "legal holds: footage they cover is never deleted",
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "place a hold (supervisor)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "camera", Usage: `camera id, or "all"`},
					&cli.StringFlag{Name: "from", Usage: "start of the footage to keep"},
					&cli.StringFlag{Name: "to", Usage: "end of the footage to keep"},
					markFlag,
					&cli.StringFlag{Name: "case", Usage: "case reference", Required: true},
					&cli.StringFlag{Name: "reason", Usage: "legal basis / reason", Required: true},
					&cli.StringFlag{Name: "review", Usage: "review date, YYYY-MM-DD or a time (default: 90 days from now)"},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
				},
				Action: configAction(func(c *cli.Context, cfg *config.Config) error {
					camera, from, to, err := markedWindow(c, cfg)
					if err != nil {
						return err
					}
					a := api.HoldAddRequest{Camera: camera, From: from, To: to, Case: c.String("case"), Reason: c.String("reason")}
					if r := c.String("review"); r != "" {
						if len(r) == len("2006-01-02") {
							r += " 00:00" // a review date is a day: its start, in the site's timezone
						}
						if a.Review, err = timeinput.Parse(r, cfg.Location); err != nil {
							return err
						}
					}
					var out api.Hold
					if err := ask(c.Context, cfg, api.CmdHoldAdd, a, &out, nil); err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					fmt.Fprintf(c.App.Writer, "placed hold %s\n", out.ID)
					printHolds(c.App.Writer, []api.Hold{out}, cfg.Location)
					return nil
				}),
			},
			{
				Name:  "list",
				Usage: "show holds in force (--all: released ones too)",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "all", Usage: "include released holds"},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
				},
				Action: configAction(func(c *cli.Context, cfg *config.Config) error {
					all := c.Bool("all")
					var out []api.Hold
					if err := ask(c.Context, cfg, api.CmdHoldList, all, &out, nil); err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					printHolds(c.App.Writer, out, cfg.Location)
					return nil
				}),
			},
			{
				Name:      "release",
				Usage:     "release a hold (a supervisor other than the one who placed it)",
				ArgsUsage: "HOLD-ID",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "reason", Usage: "why the footage no longer needs keeping (required)"},
				},
				Action: func(c *cli.Context) error {
					id, reason, err := idAndText(c, "reason", "give the hold to release: cctv hold release HOLD-ID --reason …")
					if err != nil {
						return err
					}
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					a := api.HoldReleaseRequest{ID: id, Reason: reason}
					var out api.Hold
					if err := ask(c.Context, cfg, api.CmdHoldRelease, a, &out, nil); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "released hold %s: the footage it covered now follows normal retention\n", out.ID)
					return nil
				},
			},
		},
	}
}

func printHolds(w io.Writer, hs []api.Hold, loc *time.Location) {
	if len(hs) == 0 {
		fmt.Fprintln(w, "no holds")
		return
	}
	for _, h := range hs {
		state := "in force"
		switch {
		case h.Released:
			state = "released by " + h.ReleasedBy + ": " + h.ReleaseReason
		case h.Overdue:
			state = "in force, PAST REVIEW DATE"
		}
		fmt.Fprintf(w, "%s  camera %s  %s – %s  case %s  review %s  placed by %s  (%s)\n    reason: %s\n",
			termtext.Esc(h.ID), termtext.Esc(h.Camera), localTime(h.From, loc), localTime(h.To, loc), termtext.Esc(h.Case),
			h.Review.In(loc).Format("2006-01-02"), termtext.Esc(h.PlacedBy), termtext.Esc(state), termtext.Esc(h.Reason))
	}
}

// idAndText reads `ID --FLAG TEXT` in either order (urfave/cli stops
// reading flags at the first argument, and people type the ID first); the
// text is required (exit 2 without it).
func idAndText(c *cli.Context, flag, usage string) (id, text string, err error) {
	text = c.String(flag)
	set := c.IsSet(flag)
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--"+flag || a == "-"+flag:
			if i+1 >= len(args) {
				return "", "", &usageError{msg: "--" + flag + " needs a value"}
			}
			text, set = args[i+1], true
			i++
		case strings.HasPrefix(a, "--"+flag+"="):
			text, set = strings.TrimPrefix(a, "--"+flag+"="), true
		case id == "":
			id = a
		default:
			return "", "", &usageError{msg: "unexpected argument " + a}
		}
	}
	if id == "" {
		return "", "", &usageError{msg: usage}
	}
	if !set {
		return "", "", badInput(nil, "this needs --"+flag, `add --`+flag+` "…"`)
	}
	return id, text, nil
}
