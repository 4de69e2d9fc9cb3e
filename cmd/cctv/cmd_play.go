package main

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/termtext"
	"github.com/council/cctv/internal/timeinput"
	"github.com/council/cctv/internal/viewer"
)

func cmdPlay() *cli.Command {
	return &cli.Command{
		Name:  "play",
		Usage: "watch recorded footage in a player, with the site time as subtitles (viewer; audited as a view)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "camera", Usage: "camera id", Required: true},
			&cli.StringFlag{Name: "from", Usage: "start: RFC 3339 or \"YYYY-MM-DD HH:MM:SS\" in the site timezone", Required: true},
			&cli.StringFlag{Name: "to", Usage: "end (default: one hour after --from, or now)"},
			&cli.StringFlag{Name: "reason", Usage: "why you look, for the audit log"},
			&cli.StringFlag{Name: "player", Value: "mpv", Usage: "mpv, ffplay or vlc (mpv draws on the console with --vo=drm when there is no desktop)"},
			&cli.StringFlag{Name: "out", Usage: "- writes the Matroska stream to standard output instead, for any player"},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			from, err := timeinput.Parse(c.String("from"), cfg.Location)
			if err != nil {
				return err
			}
			to := from.Add(time.Hour)
			if now := time.Now(); to.After(now) && now.After(from) {
				to = now
			}
			if c.String("to") != "" {
				if to, err = timeinput.Parse(c.String("to"), cfg.Location); err != nil {
					return err
				}
			}
			if !to.After(from) {
				return badInput(nil, "--to must be after --from")
			}
			a := api.PlayRequest{Camera: c.String("camera"), From: from, To: to, Reason: c.String("reason")}
			title := fmt.Sprintf("camera %s from %s", a.Camera, localTime(from, cfg.Location))
			argv, err := viewer.Args(c.String("player"), title)
			if err != nil {
				return badInput(err, err.Error())
			}
			var res api.PlayResult
			err = playStream(c, cfg, api.CmdPlay, a, &res, argv, true, func(info io.Writer) {
				for _, g := range res.Gaps {
					if g.Ongoing {
						fmt.Fprintf(info, "no recording: down since %s, ongoing: %s\n", localTime(g.From, cfg.Location), termtext.Esc(g.Reason))
						continue
					}
					fmt.Fprintf(info, "no recording %s to %s: %s\n", localTime(g.From, cfg.Location), localTime(g.To, cfg.Location), termtext.Esc(g.Reason))
				}
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(infoWriter(c), "played camera %s, %s to %s\n", res.Camera, localTime(res.From, cfg.Location), localTime(res.To, cfg.Location))
			return nil
		}),
	}
}

// infoWriter is where a streaming command talks to the person: standard
// error when the stream has standard output (--out -).
func infoWriter(c *cli.Context) io.Writer {
	if c.String("out") == "-" {
		return c.App.ErrWriter
	}
	return c.App.Writer
}

// playStream asks for a stream (play, live), decoding the answer into res,
// and hands the stream to the player argv, or to standard output with
// --out -; describe, if set, first tells the person about the answer. After
// the player exits at the end of a receipted stream (play) it tells the
// daemon how long it ran, for the audit log.
// A stream ended by c's context (--for, Ctrl-C) ends the command normally.
func playStream(c *cli.Context, cfg *config.Config, command string, args, res any, argv []string, receipted bool, describe func(io.Writer)) error {
	info := infoWriter(c)
	var start func() (io.WriteCloser, func() error, error)
	switch out := c.String("out"); out {
	case "-":
		start = func() (io.WriteCloser, func() error, error) {
			return nopCloser{c.App.Writer}, func() error { return nil }, nil
		}
	case "":
		cmd, err := viewer.Command(argv)
		if err != nil {
			return failed(err, err.Error())
		}
		start = func() (io.WriteCloser, func() error, error) {
			in, err := cmd.StdinPipe()
			if err != nil {
				return nil, nil, err
			}
			if err := cmd.Start(); err != nil {
				return nil, nil, err
			}
			return in, cmd.Wait, nil
		}
	default:
		return badInput(nil, "--out takes only - (standard output)", "footage leaves the box only as an audited export: cctv export")
	}
	err := ask(c.Context, cfg, command, args, res, func(r io.Reader) (any, error) {
		if describe != nil {
			describe(info)
		}
		w, wait, err := start()
		if err != nil {
			return nil, fmt.Errorf("start the player: %w", err)
		}
		began := time.Now()
		_, cerr := io.Copy(w, api.NewChunkReader(r))
		_ = w.Close() // the player sees the end of the stream
		werr := wait()
		switch {
		case c.Context.Err() != nil:
			return nil, nil // stopped by --for or Ctrl-C: the daemon sees the hang-up
		case errors.Is(cerr, syscall.EPIPE):
			return nil, nil // the player quit first: hanging up ends the stream, and the daemon audits how long it ran
		case errors.Is(cerr, io.ErrUnexpectedEOF):
			return nil, errors.New("the daemon cut the stream before its end (a live viewer that falls behind is dropped; a recording that no longer matches its seal is not shown): see the daemon's log, journalctl -u cctv, and cctv audit list --action view")
		case cerr != nil:
			return nil, cerr
		}
		if werr != nil && c.String("out") == "" {
			fmt.Fprintf(info, "the player stopped: %v\n", werr)
		}
		if !receipted {
			return nil, nil
		}
		return api.PlayReceipt{WatchedS: time.Since(began).Seconds()}, nil
	})
	if err != nil && c.Context.Err() != nil && errors.Is(err, c.Context.Err()) {
		return nil
	}
	return err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
