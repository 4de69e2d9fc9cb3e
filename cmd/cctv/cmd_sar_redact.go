package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/timeinput"
)

// repeated is a repeatable flag whose values are kept whole (a
// StringSliceFlag would split "X,Y,W,H" at its commas).
type repeated []string

func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }
func (r *repeated) String() string     { return strings.Join(*r, " ") }

func maskFlags() []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{Name: "mask", Value: &repeated{}, Usage: "obscure `[CAMERA:]X,Y,W,H[@FROM-TO]` (pixels from the top left; times HH:MM:SS, or full times as FROM..TO); repeatable"},
		&cli.GenericFlag{Name: "keep", Value: &repeated{}, Usage: "show only `[CAMERA:]X,Y,W,H[@FROM-TO]`, obscuring everything outside the kept regions; repeatable"},
		&cli.BoolFlag{Name: "pixelate", Usage: "obscure with large blocks (at least 16 px) instead of black"},
		&cli.BoolFlag{Name: "solid", Usage: "obscure with black (the default)"},
	}
}

func sarPreviewCommand() *cli.Command {
	return &cli.Command{
		Name:      "preview",
		Usage:     "pictures of the request's cameras with a coordinate grid and the masks drawn, to choose masks (supervisor; audited as a view)",
		ArgsUsage: "REF",
		Flags: append(maskFlags(),
			&cli.StringSliceFlag{Name: "at", Usage: "an instant to show (HH:MM:SS on the request's first day, or a full time); default three across the window"},
			&cli.StringFlag{Name: "out", Usage: "directory to write the JPEG files in (existing files are never replaced)"},
		),
		Action: func(c *cli.Context) error {
			ref, c, err := refAndFlags(c)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			out, err := outDir(c)
			if err != nil {
				return err
			}
			a, day := api.SARPreviewRequest{Ref: ref}, sarDay(c, cfg, ref)
			if a.Masks, a.Fill, err = parseMasks(c, cfg, day); err != nil {
				return err
			}
			if a.At, err = sarTimes(cfg, day, c.StringSlice("at")); err != nil {
				return err
			}
			var res api.SARPreviewResult
			var written []string
			err = ask(c.Context, cfg, api.CmdSARPreview, a, &res, func(r io.Reader) (any, error) {
				for _, p := range res.Pictures {
					if p.Missing != "" {
						continue
					}
					name := filepath.Join(out, filepath.Base(p.Name))
					b := make([]byte, p.Bytes)
					if _, err := io.ReadFull(r, b); err != nil {
						return nil, fmt.Errorf("receive %s: %w", name, err)
					}
					if err := fsutil.WriteNew(name, b, 0o600); err != nil {
						return nil, err
					}
					written = append(written, name)
				}
				return nil, nil
			})
			if err != nil {
				if errors.Is(err, fs.ErrExist) {
					return badInput(err, err.Error(), "choose another --out, or move the old pictures away")
				}
				return err
			}
			i := 0
			for _, p := range res.Pictures {
				if p.Missing != "" {
					fmt.Fprintf(c.App.Writer, "camera %s at %s: %s\n", p.Camera, localTime(p.At, cfg.Location), p.Missing)
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s: camera %s at %s, picture %dx%d pixels\n", written[i], p.Camera,
					p.FrameTime.In(cfg.Location).Format("2006-01-02 15:04:05.000 MST"), p.Width, p.Height)
				i++
			}
			fmt.Fprintln(c.App.Writer, "these pictures show unredacted footage: for choosing masks only, never for disclosure")
			return nil
		},
	}
}

func sarExportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "the redacted package for the data subject: their footage with others obscured, signed (supervisor; a disclosure)",
		ArgsUsage: "REF",
		Flags: append(maskFlags(),
			&cli.StringSliceFlag{Name: "stills", Usage: "redacted still pictures at these instants (HH:MM:SS on the request's first day, or full times), separated by commas"},
			&cli.StringFlag{Name: "contact", Usage: `whom the data subject contacts about it, e.g. "Data Protection Officer, dpo@example.gov.uk, 01234 567890"`},
			&cli.StringFlag{Name: "out", Usage: "directory to put the package in"},
			&cli.BoolFlag{Name: "zip", Usage: "hand over one .zip file instead of a directory"},
			&cli.StringSliceFlag{Name: "encrypt-to", Usage: "encrypt the zip for this age (age1…) or SSH (ssh-ed25519 …) recipient; repeatable"},
			&cli.BoolFlag{Name: "passphrase", Usage: "encrypt the zip with a passphrase (asked on the terminal)"},
		),
		Action: func(c *cli.Context) error {
			ref, c, err := refAndFlags(c)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			out, err := outDir(c)
			if err != nil {
				return err
			}
			if strings.TrimSpace(c.String("contact")) == "" {
				return badInput(nil, "the package must tell the data subject whom to contact about it",
					`add --contact "Data Protection Officer, dpo@example.gov.uk, 01234 567890"`)
			}
			a, day := api.SARExportRequest{Ref: ref, Contact: c.String("contact")}, sarDay(c, cfg, ref)
			if a.Masks, a.Fill, err = parseMasks(c, cfg, day); err != nil {
				return err
			}
			if a.Stills, err = sarTimes(cfg, day, c.StringSlice("stills")); err != nil {
				return err
			}
			recipients, err := exportRecipients(c)
			if err != nil {
				return err
			}
			// The daemon names the package (from the request's window).
			ro := export.ReceiveOptions{OutDir: out, Zip: c.Bool("zip"), Recipients: recipients}
			got, err := receivePackage(c, cfg, api.CmdSARExport, a, ro)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "subject access package: %s\n", got.Path)
			if len(recipients) > 0 {
				fmt.Fprintf(c.App.Writer, "encrypted: the data subject decrypts it with age (README.txt inside explains the rest)\n")
			}
			fmt.Fprintf(c.App.Writer, "verified: %d files, no original recordings, signed by %s (box %s); disclosure to the data subject recorded in the audit log\n",
				got.Report.Files, got.Report.Fingerprint, got.Report.Box)
			if m := got.Report.Manifest; m != nil && m.SubjectAccess != nil {
				fmt.Fprintf(c.App.Writer, "obscured: %d mask(s), %s\n", len(m.SubjectAccess.Masks), m.SubjectAccess.Fill)
				for _, cam := range m.Cameras {
					for _, u := range cam.Uncovered {
						fmt.Fprintf(c.App.Writer, "NOT COVERED: camera %s %s – %s: %s\n", cam.ID, localTime(u.From, cfg.Location), localTime(u.To, cfg.Location), uncoveredWhy(u, cam.Gaps))
					}
				}
			}
			fmt.Fprintln(c.App.Writer, "watch it before handing it over: check that everyone else is obscured throughout")
			return nil
		},
	}
}

// refAndFlags reads `REF --flag…` (or `--flag… REF`): urfave/cli stops
// reading flags at the first argument, and people type the reference first.
// The flags after it are parsed into a new context; flags on both sides are
// refused rather than half-read.
func refAndFlags(c *cli.Context) (string, *cli.Context, error) {
	args := c.Args().Slice()
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", c, &usageError{msg: "give the request's reference: cctv sar " + c.Command.Name + " REF …"}
	}
	if len(args) == 1 {
		return args[0], c, nil
	}
	if len(c.LocalFlagNames()) > 0 {
		return "", c, &usageError{msg: "give the flags after the reference: cctv sar " + c.Command.Name + " " + args[0] + " --…"}
	}
	set := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range c.Command.Flags {
		if err := f.Apply(set); err != nil {
			return "", c, err
		}
	}
	if err := set.Parse(args[1:]); err != nil {
		return "", c, &usageError{msg: err.Error()}
	}
	if set.NArg() > 0 {
		return "", c, &usageError{msg: "unexpected argument " + set.Arg(0)}
	}
	nc := cli.NewContext(c.App, set, c)
	nc.Command = c.Command
	return args[0], nc, nil
}

// outDir is --out, which must be an existing directory.
func outDir(c *cli.Context) (string, error) {
	out := c.String("out")
	if out == "" {
		return "", badInput(nil, "this needs --out DIR", "add --out /media/usb")
	}
	if st, err := os.Stat(out); err != nil || !st.IsDir() {
		return "", badInput(err, "--out "+out+" is not a directory", "create it, or mount the USB stick first")
	}
	return out, nil
}

// sarDay returns a function giving the request's first instant, looked up
// (an audited request) only when a time of day needs it.
func sarDay(c *cli.Context, cfg *config.Config, ref string) func() (time.Time, error) {
	var day *time.Time
	return func() (time.Time, error) {
		if day != nil {
			return *day, nil
		}
		var rs []api.SAR
		if err := ask(c.Context, cfg, api.CmdSARList, false, &rs, nil); err != nil {
			return time.Time{}, err
		}
		for _, r := range rs {
			if r.Ref == ref {
				day = &r.From
				return r.From, nil
			}
		}
		return time.Time{}, badInput(nil, "no open subject access request "+ref, "see them with: cctv sar list --all")
	}
}

// parseMasks reads --mask, --keep and the fill.
func parseMasks(c *cli.Context, cfg *config.Config, day func() (time.Time, error)) ([]api.SARMask, string, error) {
	if c.Bool("pixelate") && c.Bool("solid") {
		return nil, "", badInput(nil, "use --pixelate or --solid, not both")
	}
	fill := export.FillSolid
	if c.Bool("pixelate") {
		fill = export.FillPixelate
	}
	var out []api.SARMask
	for _, kind := range []string{"mask", "keep"} {
		for _, s := range *c.Generic(kind).(*repeated) {
			var d time.Time
			if strings.Contains(s, "@") && !strings.Contains(s, "..") {
				var err error
				if d, err = day(); err != nil {
					return nil, "", err
				}
			}
			m, err := export.ParseMask(s, kind == "keep", d, cfg.Location)
			if err != nil {
				return nil, "", badInput(err, "--"+kind+" "+err.Error(), "a region is X,Y,W,H in pixels from the top left, e.g. --"+kind+" 120,40,200,260@14:05:00-14:06:30")
			}
			out = append(out, api.SARMask{Camera: m.Camera, Keep: m.Keep, X: m.X, Y: m.Y, W: m.W, H: m.H, From: m.From, To: m.To})
		}
	}
	return out, fill, nil
}

// sarTimes parses instants: full times, or times of day on the request's
// first day.
func sarTimes(cfg *config.Config, day func() (time.Time, error), in []string) ([]time.Time, error) {
	var out []time.Time
	for _, s := range in {
		at, err := timeinput.Parse(s, cfg.Location)
		if err != nil {
			d, derr := day()
			if derr != nil {
				return nil, derr
			}
			if at, err = timeinput.ParseClock(s, d, cfg.Location); err != nil {
				return nil, err
			}
		}
		out = append(out, at)
	}
	return out, nil
}
