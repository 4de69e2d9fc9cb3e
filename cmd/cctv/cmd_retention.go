package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/store"
)

// retentionJSON is the stable `cctv retention --dry-run --json` output.
type retentionJSON struct {
	Now      time.Time          `json:"now"`
	Paused   bool               `json:"paused"`
	Why      string             `json:"paused_why,omitempty"`
	Delete   []retentionSegJSON `json:"delete"`
	KeptHeld []retentionSegJSON `json:"kept_held"`
}

type retentionSegJSON struct {
	Camera string    `json:"camera"`
	File   string    `json:"file"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Bytes  int64     `json:"bytes"`
	Reason string    `json:"reason"`
}

// retentionPolicy is the configuration's retention, per camera.
func retentionPolicy(cfg *config.Config) store.RetentionPolicy {
	p := store.RetentionPolicy{Default: cfg.Retention.Duration, PerCamera: map[string]time.Duration{}}
	for _, c := range cfg.Cameras {
		if c.Retention.Duration > 0 {
			p.PerCamera[string(c.ID)] = c.Retention.Duration
		}
	}
	return p
}

// retentionPassLimit bounds one deletion batch.
const retentionPassLimit = 1000

// planRetention says what the next retention pass would delete, and what it
// keeps because of a hold.
func planRetention(st *store.Store, cfg *config.Config, now time.Time) (retentionJSON, error) {
	out := retentionJSON{Now: now.UTC(), Delete: []retentionSegJSON{}, KeptHeld: []retentionSegJSON{}}
	paused, why, _, err := st.DeletionPaused()
	if err != nil {
		return out, err
	}
	out.Paused, out.Why = paused, why
	p := retentionPolicy(cfg)
	cands, err := st.RetentionCandidates(now, p, retentionPassLimit)
	if err != nil {
		return out, err
	}
	holds, err := st.Holds(false)
	if err != nil {
		return out, err
	}
	for _, d := range store.PlanRetention(cands, holds, now, p) {
		s := retentionSegJSON{Camera: d.Segment.Camera, File: d.Segment.Path, Start: d.Segment.Start.UTC(), End: d.Segment.End.UTC(), Bytes: d.Segment.Bytes, Reason: d.Reason}
		if d.Delete {
			out.Delete = append(out.Delete, s)
		} else {
			out.KeptHeld = append(out.KeptHeld, s)
		}
	}
	return out, nil
}

func cmdRetention() *cli.Command {
	return &cli.Command{
		Name:  "retention",
		Usage: "what the next retention pass would delete, and why (--dry-run)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "show, delete nothing (the only mode: deletion is the recorder's job)", Required: true},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			var out retentionJSON
			err := callDaemon(c.Context, cfg, "retention", nil, &out)
			if errors.Is(err, errDaemonDown) {
				err = direct(c.Context, cfg, "retention", nil, func(st *store.Store) error {
					out, err = planRetention(st, cfg, time.Now())
					return err
				})
			}
			if err != nil {
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

func printRetention(w io.Writer, r retentionJSON, loc *time.Location) {
	if r.Paused {
		fmt.Fprintf(w, "DELETION IS PAUSED: %s\n  a supervisor confirms the clock with: cctv time confirm\n\n", r.Why)
	}
	var bytes int64
	for _, s := range r.Delete {
		bytes += s.Bytes
	}
	fmt.Fprintf(w, "the next pass would delete %d segment(s), %.1f MB:\n", len(r.Delete), float64(bytes)/1e6)
	for _, s := range r.Delete {
		fmt.Fprintf(w, "  %s  %s – %s  %s\n", s.Camera, localTime(s.Start, loc), s.End.In(loc).Format("15:04:05"), s.Reason)
	}
	if len(r.KeptHeld) > 0 {
		fmt.Fprintf(w, "kept although expired, because of a legal hold:\n")
		for _, s := range r.KeptHeld {
			fmt.Fprintf(w, "  %s  %s – %s  %s\n", s.Camera, localTime(s.Start, loc), s.End.In(loc).Format("15:04:05"), s.Reason)
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
				err := callDaemon(c.Context, cfg, "time.confirm", nil, nil)
				if errors.Is(err, errDaemonDown) {
					err = directAs(c.Context, cfg, "time.confirm", nil, func(st *store.Store, by api.Caller) error {
						return st.ConfirmTime(actorOf(by))
					})
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "clock confirmed as %s: deletion resumes\n", localTime(time.Now(), cfg.Location))
				return nil
			}),
		}},
	}
}
