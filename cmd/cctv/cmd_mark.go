package main

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/termtext"
	"github.com/council/cctv/internal/timeinput"
)

func cmdMark() *cli.Command {
	return &cli.Command{
		Name:  "mark",
		Usage: "bookmarks on moments of footage, to find, export or hold them (viewer; audited)",
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "put a bookmark with a note on a moment of a camera's footage",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "camera", Usage: "camera id", Required: true},
					&cli.StringFlag{Name: "at", Usage: "the moment: RFC 3339 or \"YYYY-MM-DD HH:MM:SS\" in the site timezone", Required: true},
					&cli.StringFlag{Name: "note", Usage: "what happens then", Required: true},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
				},
				Action: configAction(func(c *cli.Context, cfg *config.Config) error {
					at, err := timeinput.Parse(c.String("at"), cfg.Location)
					if err != nil {
						return err
					}
					var m api.Mark
					if err := ask(c.Context, cfg, api.CmdMarkAdd, api.MarkAddRequest{Camera: c.String("camera"), At: at, Note: c.String("note")}, &m, nil); err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, m)
					}
					fmt.Fprintf(c.App.Writer, "bookmark %s: camera %s at %s\n", m.ID, m.Camera, localTime(m.At, cfg.Location))
					return nil
				}),
			},
			{
				Name:  "list",
				Usage: "bookmarks, of one camera or all, in a window or of all time",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "camera", Usage: "camera id (default: every camera)"},
					&cli.StringFlag{Name: "from", Usage: "start of the window"},
					&cli.StringFlag{Name: "to", Usage: "end of the window"},
					&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
				},
				Action: configAction(func(c *cli.Context, cfg *config.Config) error {
					a := api.MarkListRequest{Camera: c.String("camera")}
					var err error
					if s := c.String("from"); s != "" {
						if a.From, err = timeinput.Parse(s, cfg.Location); err != nil {
							return err
						}
					}
					if s := c.String("to"); s != "" {
						if a.To, err = timeinput.Parse(s, cfg.Location); err != nil {
							return err
						}
					}
					var out []api.Mark
					if err := ask(c.Context, cfg, api.CmdMarkList, a, &out, nil); err != nil {
						return err
					}
					if c.Bool("json") {
						return writeJSON(c.App.Writer, out)
					}
					printMarks(c.App.Writer, out, cfg.Location)
					return nil
				}),
			},
		},
	}
}

func printMarks(w io.Writer, ms []api.Mark, loc *time.Location) {
	if len(ms) == 0 {
		fmt.Fprintln(w, "no bookmarks")
		return
	}
	for _, m := range ms {
		fmt.Fprintf(w, "%s  camera %s  %s  by %s: %s\n", termtext.Esc(m.ID), termtext.Esc(m.Camera), localTime(m.At, loc), termtext.Esc(m.By), termtext.Esc(m.Note))
	}
}

// markFlag lets export and hold add take a bookmark instead of a camera and
// a window.
var markFlag = &cli.StringFlag{Name: "mark", Usage: "a bookmark (M-0001): its camera, and a window from a minute before to a minute after it unless --from/--to say otherwise"}

// markedWindow reads --camera, --from and --to, filled from --mark when
// given: the bookmark's camera, from a minute before to a minute after it.
func markedWindow(c *cli.Context, cfg *config.Config) (camera string, from, to time.Time, err error) {
	camera = c.String("camera")
	if id := c.String("mark"); id != "" {
		var ms []api.Mark
		if err := ask(c.Context, cfg, api.CmdMarkList, api.MarkListRequest{ID: id}, &ms, nil); err != nil {
			return "", from, to, err
		}
		m := ms[0]
		if camera == "" {
			camera = m.Camera
		}
		from, to = m.At.Add(-time.Minute), m.At.Add(time.Minute)
	}
	if s := c.String("from"); s != "" {
		if from, err = timeinput.Parse(s, cfg.Location); err != nil {
			return "", from, to, err
		}
	}
	if s := c.String("to"); s != "" {
		if to, err = timeinput.Parse(s, cfg.Location); err != nil {
			return "", from, to, err
		}
	}
	switch {
	case camera == "":
		return "", from, to, &usageError{msg: "give --camera, or --mark with a bookmark"}
	case from.IsZero() || to.IsZero():
		return "", from, to, &usageError{msg: "give --from and --to, or --mark with a bookmark"}
	case !to.After(from):
		return "", from, to, badInput(nil, "--to must be after --from")
	}
	return camera, from, to, nil
}
