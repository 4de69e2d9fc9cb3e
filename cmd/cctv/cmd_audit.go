package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/timeinput"
	"github.com/council/cctv/store"
)

// auditVerifyJSON is the stable `cctv audit verify --json` output.
type auditVerifyJSON struct {
	OK          bool                 `json:"ok"`
	Entries     uint64               `json:"entries"`
	Checkpoints int                  `json:"checkpoints"`
	FirstBad    *uint64              `json:"first_bad_seq,omitempty"`
	Problems    []store.AuditProblem `json:"problems"`
}

func verifyAudit(st *store.Store, key *boxkey.Key, cfg *config.Config) (auditVerifyJSON, error) {
	v, err := key.NoteVerifier(cfg.BoxID)
	if err != nil {
		return auditVerifyJSON{}, err
	}
	rep, err := st.VerifyAudit(v)
	if err != nil {
		return auditVerifyJSON{}, err
	}
	out := auditVerifyJSON{OK: len(rep.Problems) == 0, Entries: rep.Entries, Checkpoints: rep.Checkpoints, Problems: rep.Problems}
	if out.Problems == nil {
		out.Problems = []store.AuditProblem{}
	}
	if seq, ok := rep.FirstBad(); ok {
		out.FirstBad = &seq
	}
	return out, nil
}

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
					err := callDaemon(c.Context, cfg, "audit.list", f, &out)
					if errors.Is(err, errDaemonDown) {
						err = direct(c.Context, cfg, "audit.list", f, func(st *store.Store) error {
							out, err = st.AuditEntries(f)
							return err
						})
					}
					if err != nil {
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
					var out auditVerifyJSON
					err := callDaemon(c.Context, cfg, "audit.verify", nil, &out)
					if errors.Is(err, errDaemonDown) {
						err = direct(c.Context, cfg, "audit.verify", nil, func(st *store.Store) error {
							key, err := loadKey(cfg)
							if err != nil {
								return err
							}
							out, err = verifyAudit(st, key, cfg)
							return err
						})
					}
					if err != nil {
						return err
					}
					if c.Bool("json") {
						if err := writeJSON(c.App.Writer, out); err != nil {
							return err
						}
					} else {
						for _, p := range out.Problems {
							fmt.Fprintf(c.App.Writer, "seq %d: %s: %s\n", p.Seq, p.Kind, p.Detail)
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
			params = append(params, k+"="+v)
		}
		slices.Sort(params)
		fmt.Fprintf(w, "%6d  %s  %s (uid %d)  %s  %s  => %s\n",
			e.Seq, localTime(e.Time, loc), e.User, e.UID, e.Action, strings.Join(params, " "), e.Result)
	}
}
