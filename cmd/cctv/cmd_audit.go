package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/termtext"
	"github.com/council/cctv/internal/timeinput"
	"github.com/council/cctv/store"
)

func cmdAudit() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "the tamper-evident audit log (supervisor role)",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "show audit entries; --action export is the disclosure log",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "since", Usage: "only entries at or after this time"},
					&cli.StringFlag{Name: "action", Usage: `an action ("request.list") or a prefix ending in "." ("camera.")`},
					&cli.StringFlag{Name: "user", Usage: "only this Unix user's entries"},
					&cli.IntFlag{Name: "limit", Usage: "at most this many (the newest)"},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
				},
				Action: configAction(func(c *cli.Context, cfg *config.Config) error {
					f := store.AuditFilter{Action: c.String("action"), User: c.String("user"), Limit: c.Int("limit")}
					if s := c.String("since"); s != "" {
						t, err := timeinput.Parse(s, cfg.Location)
						if err != nil {
							return err
						}
						f.Since = t
					}
					var out []store.AuditEntry
					if err := ask(c.Context, cfg, api.CmdAuditList, f, &out, nil); err != nil {
						return err
					}
					if out == nil {
						out = []store.AuditEntry{}
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					printAudit(c.App.Writer, out, cfg.Location)
					return nil
				}),
			},
			{
				Name:  "verify",
				Usage: "check the audit log for altered, inserted, reordered or removed entries",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}},
				Action: configAction(func(c *cli.Context, cfg *config.Config) error {
					var out api.AuditVerify
					if err := ask(c.Context, cfg, api.CmdAuditVerify, nil, &out, nil); err != nil {
						return err
					}
					if c.Bool("json") {
						if err := writeJSON(c.App.Writer, out); err != nil {
							return err
						}
					} else {
						for _, p := range out.Problems {
							fmt.Fprintf(c.App.Writer, "seq %d: %s: %s\n", p.Seq, p.Kind, termtext.Esc(p.Detail))
						}
					}
					if !out.OK {
						first := "?"
						if out.FirstBad != nil {
							first = fmt.Sprint(*out.FirstBad)
						}
						return failed(nil, fmt.Sprintf("the audit log has been tampered with: first bad entry is seq %s (%d problem(s))", first, len(out.Problems)),
							"keep the data directory as it is and report this to the data-protection officer")
					}
					if !c.Bool("json") {
						fmt.Fprintf(c.App.Writer, "ok: %d entries, %d signed checkpoints, chain intact\n", out.Entries, out.Checkpoints)
					}
					return nil
				}),
			},
		},
	}
}

func printAudit(w io.Writer, entries []store.AuditEntry, loc *time.Location) {
	for _, e := range entries {
		params := make([]string, 0, len(e.Params))
		for k, v := range e.Params {
			params = append(params, termtext.Esc(k)+"="+termtext.Esc(v))
		}
		slices.Sort(params)
		fmt.Fprintf(w, "%6d  %s  %s (uid %d)  %s  %s  => %s\n",
			e.Seq, localTime(e.Time, loc), termtext.Esc(e.User), e.UID, termtext.Esc(e.Action), strings.Join(params, " "), termtext.Esc(e.Result))
	}
}
