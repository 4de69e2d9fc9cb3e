package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/timeinput"
	"github.com/council/cctv/store"
)

// listJSON is the stable `cctv list --json` output (documented in README).
type listJSON struct {
	From    time.Time        `json:"from"`
	To      time.Time        `json:"to"`
	Cameras []cameraListJSON `json:"cameras"`
}

type cameraListJSON struct {
	Camera   string        `json:"camera"`
	Segments []segmentJSON `json:"segments"`
	Gaps     []gapJSON     `json:"gaps"`
	// Deleted lists disposal records, with --deleted: what was destroyed, when and why.
	Deleted []disposalJSON `json:"deleted,omitempty"`
}

// disposalJSON records one deleted segment: metadata only.
type disposalJSON struct {
	File    string    `json:"file"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	SHA256  string    `json:"sha256"`
	Deleted time.Time `json:"deleted"`
	Why     string    `json:"why"` // retention | disk-pressure | file-missing
}

type segmentJSON struct {
	File          string    `json:"file"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Bytes         int64     `json:"bytes"`
	Frames        int64     `json:"frames"`
	SHA256        string    `json:"sha256"`
	Seal          string    `json:"seal"`
	TimeSource    string    `json:"time_source"`
	ClockOffsetMS int64     `json:"clock_offset_ms"`
	Codec         string    `json:"codec"`
	Flags         []string  `json:"flags"`
}

type gapJSON struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason"`
}

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
			args := listArgs{Camera: c.String("camera"), From: from, To: to, Deleted: c.Bool("deleted")}
			var out listJSON
			err = callDaemon(c.Context, cfg, "list", args, &out)
			if errors.Is(err, errDaemonDown) {
				// The daemon is down: read the store directly, audited the same way.
				err = direct(c.Context, cfg, "list", args, func(st *store.Store) error {
					out, err = buildList(st, cfg, args)
					return err
				})
			}
			if err != nil {
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

// listArgs is the request of a list, as sent to the daemon.
type listArgs struct {
	Camera  string    `json:"camera,omitempty"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Deleted bool      `json:"deleted,omitempty"`
}

// buildList reads the recordings and gaps of one or every camera in a window.
func buildList(st *store.Store, cfg *config.Config, args listArgs) (listJSON, error) {
	out := listJSON{From: args.From, To: args.To, Cameras: []cameraListJSON{}}
	if !args.To.After(args.From) {
		return out, badInput(nil, "--to must be after --from")
	}
	cams, err := selectCameras(args.Camera, cfg, st)
	if err != nil {
		return out, err
	}
	for _, cam := range cams {
		segs, err := st.Segments(cam, args.From, args.To)
		if err != nil {
			return out, fmt.Errorf("read segments: %w", err)
		}
		gaps, err := st.Gaps(cam, args.From, args.To)
		if err != nil {
			return out, fmt.Errorf("read gaps: %w", err)
		}
		cl := cameraList(cam, segs, gaps)
		if args.Deleted {
			ds, err := st.Disposals(cam, args.From, args.To)
			if err != nil {
				return out, fmt.Errorf("read disposal records: %w", err)
			}
			cl.Deleted = []disposalJSON{}
			for _, d := range ds {
				cl.Deleted = append(cl.Deleted, disposalJSON{File: filepath.Join(cfg.DataDir, filepath.FromSlash(d.File)), Start: d.Start.UTC(), End: d.End.UTC(), SHA256: d.SHA256, Deleted: d.When.UTC(), Why: d.Why})
			}
		}
		out.Cameras = append(out.Cameras, cl)
	}
	return out, nil
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

// selectCameras returns the one camera asked for, or every camera known to the
// configuration or the store.
func selectCameras(id string, cfg *config.Config, st *store.Store) ([]string, error) {
	known := map[string]bool{}
	var all []string
	for _, cam := range cfg.Cameras {
		if !known[string(cam.ID)] {
			known[string(cam.ID)] = true
			all = append(all, string(cam.ID))
		}
	}
	stored, err := st.Cameras()
	if err != nil {
		return nil, failed(err, "read cameras: "+err.Error())
	}
	for _, id := range stored {
		if !known[id] {
			known[id] = true
			all = append(all, id)
		}
	}
	if id == "" {
		return all, nil
	}
	if !known[id] {
		return nil, badInput(nil, fmt.Sprintf("no camera %q", id), "cameras: "+strings.Join(all, ", "))
	}
	return []string{id}, nil
}

func cameraList(cam string, segs []store.Segment, gaps []store.Gap) cameraListJSON {
	out := cameraListJSON{Camera: cam, Segments: []segmentJSON{}, Gaps: []gapJSON{}}
	for _, s := range segs {
		flags := s.Flags
		if flags == nil {
			flags = []string{}
		}
		out.Segments = append(out.Segments, segmentJSON{
			File: s.Path, Start: s.Start.UTC(), End: s.End.UTC(), Bytes: s.Bytes, Frames: s.Frames,
			SHA256: s.SHA256, Seal: s.State, TimeSource: s.TimeSource, ClockOffsetMS: s.ClockOffsetMS,
			Codec: s.Codec, Flags: flags,
		})
	}
	for _, g := range gaps {
		out.Gaps = append(out.Gaps, gapJSON{From: g.From.UTC(), To: g.To.UTC(), Reason: g.Reason})
	}
	return out
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

func printList(w io.Writer, out listJSON, loc *time.Location) {
	fmt.Fprintf(w, "window %s to %s\n", localTime(out.From, loc), localTime(out.To, loc))
	for _, c := range out.Cameras {
		fmt.Fprintf(w, "\ncamera %s: %d segments, %d gaps\n", c.Camera, len(c.Segments), len(c.Gaps))
		for _, s := range c.Segments {
			fmt.Fprintf(w, "  %s – %s  %7.1f MB  %-9s %-7s %s\n", localTime(s.Start, loc), s.End.In(loc).Format("15:04:05"),
				float64(s.Bytes)/1e6, s.Seal, s.TimeSource, s.File)
		}
		for _, g := range c.Gaps {
			fmt.Fprintf(w, "  gap %s – %s  %s\n", localTime(g.From, loc), g.To.In(loc).Format("15:04:05"), g.Reason)
		}
		for _, d := range c.Deleted {
			fmt.Fprintf(w, "  deleted %s – %s  on %s (%s)  sha256 %s\n", localTime(d.Start, loc), d.End.In(loc).Format("15:04:05"),
				localTime(d.Deleted, loc), d.Why, d.SHA256)
		}
	}
}
