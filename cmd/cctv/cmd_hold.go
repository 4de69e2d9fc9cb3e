package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/timeinput"
	"github.com/council/cctv/store"
)

// holdAddArgs is the request of `cctv hold add`.
type holdAddArgs struct {
	Camera string    `json:"camera"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Case   string    `json:"case"`
	Reason string    `json:"reason"`
	Review time.Time `json:"review,omitzero"`
}

// holdReleaseArgs is the request of `cctv hold release`.
type holdReleaseArgs struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// holdJSON is the stable JSON form of a hold.
type holdJSON struct {
	ID               string    `json:"id"`
	Camera           string    `json:"camera"`
	From             time.Time `json:"from"`
	To               time.Time `json:"to"`
	Case             string    `json:"case"`
	Reason           string    `json:"reason"`
	Review           time.Time `json:"review"`
	Overdue          bool      `json:"overdue"`
	PlacedBy         string    `json:"placed_by"`
	PlacedAt         time.Time `json:"placed_at"`
	Released         bool      `json:"released"`
	ReleasedBy       string    `json:"released_by,omitempty"`
	ReleasedAt       time.Time `json:"released_at,omitzero"`
	ReleaseReason    string    `json:"release_reason,omitempty"`
	SingleSupervisor bool      `json:"single_supervisor,omitempty"`
}

func holdOut(h store.Hold, now time.Time) holdJSON {
	return holdJSON{
		ID: h.ID, Camera: h.Camera, From: h.From.UTC(), To: h.To.UTC(), Case: h.Case, Reason: h.Reason,
		Review: h.Review.UTC(), Overdue: h.Overdue(now), PlacedBy: h.PlacedBy.User, PlacedAt: h.PlacedAt.UTC(),
		Released: h.Released, ReleasedBy: h.ReleasedBy.User, ReleasedAt: h.ReleasedAt.UTC(),
		ReleaseReason: h.ReleaseReason, SingleSupervisor: h.SingleSupervisor,
	}
}

// holdError explains the store's refusals to a person.
func holdError(err error, cfg *config.Config) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrSamePerson):
		return failed(err, "a hold is released by a different supervisor from the one who placed it (two-person rule)",
			"ask another member of group "+cfg.Access.Supervisor+" to release it",
			"a site with a single supervisor can set single_supervisor_release = true in the config (the audit log records its use)")
	case errors.Is(err, store.ErrNoReason):
		return badInput(err, "releasing a hold needs a reason", `add --reason "…"`)
	case errors.Is(err, store.ErrNotFound):
		return badInput(err, "no such hold", "see the holds with: cctv hold list")
	case errors.Is(err, store.ErrReleased):
		return failed(err, "that hold was already released", "see it with: cctv hold list --all")
	default:
		var ue *userError
		if errors.As(err, &ue) {
			return ue
		}
		return badInput(err, "hold: "+err.Error())
	}
}

func actorOf(c api.Caller) store.Actor { return store.Actor{User: c.User, UID: c.UID} }

// holdCommands are the daemon's handlers for holds.
func (d *service) holdCommands() []api.Command {
	return []api.Command{
		{Name: "hold.add", Role: commandRoles["hold.add"], Handle: func(ctx context.Context, c api.Caller, raw json.RawMessage) (any, error) {
			var a holdAddArgs
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, &api.Error{Code: exitUsage, Msg: "bad hold request: " + err.Error()}
			}
			h, err := addHold(d.st, a, actorOf(c))
			return holdOut(h, time.Now()), toAPIError(holdError(err, d.cfg))
		}},
		{Name: "hold.list", Role: commandRoles["hold.list"], Handle: func(ctx context.Context, c api.Caller, raw json.RawMessage) (any, error) {
			var all bool
			if len(raw) > 0 {
				_ = json.Unmarshal(raw, &all)
			}
			return listHolds(d.st, all)
		}},
		{Name: "hold.release", Role: commandRoles["hold.release"], Handle: func(ctx context.Context, c api.Caller, raw json.RawMessage) (any, error) {
			var a holdReleaseArgs
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, &api.Error{Code: exitUsage, Msg: "bad release request: " + err.Error()}
			}
			h, err := d.st.ReleaseHold(a.ID, a.Reason, actorOf(c), d.cfg.SingleSupervisorRelease)
			return holdOut(h, time.Now()), toAPIError(holdError(err, d.cfg))
		}},
	}
}

func addHold(st *store.Store, a holdAddArgs, by store.Actor) (store.Hold, error) {
	return st.AddHold(store.Hold{Camera: a.Camera, From: a.From, To: a.To, Case: a.Case, Reason: a.Reason, Review: a.Review}, by)
}

func listHolds(st *store.Store, all bool) ([]holdJSON, error) {
	hs, err := st.Holds(all)
	if err != nil {
		return nil, err
	}
	out := []holdJSON{}
	now := time.Now()
	for _, h := range hs {
		out = append(out, holdOut(h, now))
	}
	return out, nil
}

func cmdHold() *cli.Command {
	return &cli.Command{
		Name:  "hold",
		Usage: "legal holds: footage they cover is never deleted",
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "place a hold (supervisor)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "camera", Usage: `camera id, or "all"`, Required: true},
					&cli.StringFlag{Name: "from", Usage: "start of the footage to keep", Required: true},
					&cli.StringFlag{Name: "to", Usage: "end of the footage to keep", Required: true},
					&cli.StringFlag{Name: "case", Usage: "case reference", Required: true},
					&cli.StringFlag{Name: "reason", Usage: "legal basis / reason", Required: true},
					&cli.StringFlag{Name: "review", Usage: "review date (default: 90 days from now)"},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
				},
				Action: configAction(func(c *cli.Context, cfg *config.Config) error {
					from, to, err := parseWindow(c, cfg)
					if err != nil {
						return err
					}
					a := holdAddArgs{Camera: c.String("camera"), From: from, To: to, Case: c.String("case"), Reason: c.String("reason")}
					if r := c.String("review"); r != "" {
						if a.Review, err = timeinput.Parse(r, cfg.Location); err != nil {
							return err
						}
					}
					var out holdJSON
					err = callDaemon(c.Context, cfg, "hold.add", a, &out)
					if errors.Is(err, errDaemonDown) {
						err = directAs(c.Context, cfg, "hold.add", a, func(st *store.Store, by api.Caller) error {
							h, err := addHold(st, a, actorOf(by))
							out = holdOut(h, time.Now())
							return holdError(err, cfg)
						})
					}
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					fmt.Fprintf(c.App.Writer, "placed hold %s\n", out.ID)
					printHolds(c.App.Writer, []holdJSON{out}, cfg.Location)
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
					var out []holdJSON
					err := callDaemon(c.Context, cfg, "hold.list", all, &out)
					if errors.Is(err, errDaemonDown) {
						err = direct(c.Context, cfg, "hold.list", all, func(st *store.Store) error {
							out, err = listHolds(st, all)
							return err
						})
					}
					if err != nil {
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
					id, reason, err := releaseArgs(c)
					if err != nil {
						return err
					}
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					a := holdReleaseArgs{ID: id, Reason: reason}
					var out holdJSON
					err = callDaemon(c.Context, cfg, "hold.release", a, &out)
					if errors.Is(err, errDaemonDown) {
						err = directAs(c.Context, cfg, "hold.release", a, func(st *store.Store, by api.Caller) error {
							h, err := st.ReleaseHold(a.ID, a.Reason, actorOf(by), cfg.SingleSupervisorRelease)
							out = holdOut(h, time.Now())
							return holdError(err, cfg)
						})
					}
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "released hold %s: the footage it covered now follows normal retention\n", out.ID)
					return nil
				},
			},
		},
	}
}

func printHolds(w io.Writer, hs []holdJSON, loc *time.Location) {
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
			h.ID, h.Camera, localTime(h.From, loc), localTime(h.To, loc), h.Case,
			h.Review.In(loc).Format("2006-01-02"), h.PlacedBy, state, h.Reason)
	}
}

// releaseArgs reads `HOLD-ID --reason TEXT` in either order (urfave/cli stops
// reading flags at the first argument, and people type the ID first).
func releaseArgs(c *cli.Context) (id, reason string, err error) {
	reason = c.String("reason")
	reasonSet := c.IsSet("reason")
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--reason" || a == "-reason":
			if i+1 >= len(args) {
				return "", "", &usageError{msg: "--reason needs a value"}
			}
			reason, reasonSet = args[i+1], true
			i++
		case strings.HasPrefix(a, "--reason="):
			reason, reasonSet = strings.TrimPrefix(a, "--reason="), true
		case id == "":
			id = a
		default:
			return "", "", &usageError{msg: "unexpected argument " + a}
		}
	}
	if id == "" {
		return "", "", &usageError{msg: "give the hold to release: cctv hold release HOLD-ID --reason …"}
	}
	if !reasonSet {
		return "", "", badInput(nil, "releasing a hold needs a reason", `add --reason "…"`)
	}
	return id, reason, nil
}
