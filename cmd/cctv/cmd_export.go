package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/timeinput"
)

func cmdExport() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "an evidence package for police or a data subject (operator)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "camera", Usage: "camera id, or several separated by commas"},
			&cli.StringFlag{Name: "from", Usage: "start of the window"},
			&cli.StringFlag{Name: "to", Usage: "end of the window"},
			markFlag,
			&cli.StringFlag{Name: "case", Usage: "case reference", Required: true},
			&cli.StringFlag{Name: "reason", Usage: "why the footage is disclosed", Required: true},
			&cli.StringFlag{Name: "recipient", Usage: "person and organisation receiving it", Required: true},
			&cli.StringFlag{Name: "exhibit", Usage: `exhibit reference on the report, e.g. "AB/1"`},
			&cli.StringSliceFlag{Name: "still", Usage: "a screen print at this time (HH:MM:SS on the day of --from, or a full time); repeatable"},
			&cli.StringFlag{Name: "out", Usage: "directory to put the package in", Required: true},
			&cli.BoolFlag{Name: "zip", Usage: "hand over one .zip file instead of a directory"},
			&cli.StringSliceFlag{Name: "encrypt-to", Usage: "encrypt the zip for this age (age1…) or SSH (ssh-ed25519 …) recipient; repeatable"},
			&cli.BoolFlag{Name: "passphrase", Usage: "encrypt the zip with a passphrase (asked on the terminal)"},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			cameras, from, to, err := markedWindow(c, cfg)
			if err != nil {
				return err
			}
			a := api.ExportRequest{From: from, To: to, Case: c.String("case"), Reason: c.String("reason"), Recipient: c.String("recipient"), Exhibit: c.String("exhibit")}
			if err := export.ValidateFields(export.Fields{Case: a.Case, Reason: a.Reason, Recipient: a.Recipient, Exhibit: a.Exhibit}); err != nil {
				return badInput(err, "bad text in the request: "+err.Error(), "type it again without control characters or line breaks")
			}
			for _, id := range strings.Split(cameras, ",") {
				if id = strings.TrimSpace(id); id != "" {
					a.Cameras = append(a.Cameras, id)
				}
			}
			for _, s := range c.StringSlice("still") {
				at, err := timeinput.ParseClock(s, from, cfg.Location)
				if err != nil {
					if at, err = timeinput.Parse(s, cfg.Location); err != nil {
						return err
					}
				}
				a.Stills = append(a.Stills, at)
			}
			recipients, err := exportRecipients(c)
			if err != nil {
				return err
			}
			out := c.String("out")
			if st, err := os.Stat(out); err != nil || !st.IsDir() {
				return badInput(err, "--out "+out+" is not a directory", "create it, or mount the USB stick first")
			}
			ro := export.ReceiveOptions{OutDir: out, Zip: c.Bool("zip"), Recipients: recipients,
				Name: export.PackageName(export.Request{Case: a.Case, BoxID: cfg.BoxID, From: a.From})}
			if _, err := os.Lstat(ro.Artefact()); err == nil {
				return badInput(nil, ro.Artefact()+" already exists: an exhibit is never replaced", "choose another --out, or move the old one away first")
			}
			got, err := receivePackage(c, cfg, api.CmdExport, a, ro)
			if err != nil {
				return err
			}
			printExported(c.App.Writer, got, len(recipients) > 0, cfg)
			return nil
		}),
	}
}

// receivePackage asks for a package (an export, a subject access export)
// and receives it as ro says, verified before it is put in place; the
// daemon records the disclosure from the receipt.
func receivePackage(c *cli.Context, cfg *config.Config, command string, a any, ro export.ReceiveOptions) (export.Received, error) {
	out := ro.OutDir
	var res api.ExportResult
	var got export.Received
	prog := newProgress(c.App.ErrWriter)
	err := ask(c.Context, cfg, command, a, &res, func(r io.Reader) (any, error) {
		prog.total.Store(res.Bytes)
		ro.Name, ro.Verify.Fingerprint = res.Package, res.Fingerprint
		var rerr error
		if got, rerr = export.Receive(c.Context, prog.reader(r), ro); rerr != nil {
			return nil, rerr
		}
		return api.ExportReceipt{Package: res.Package, Artefact: filepath.Base(got.Path), SumsSHA256: got.SumsSHA256}, nil
	})
	prog.stop()
	switch {
	case errors.Is(err, export.ErrNotVerified):
		for _, p := range got.Report.Problems {
			fmt.Fprintf(c.App.ErrWriter, "cctv: problem: %s\n", p)
		}
		return got, failed(err, "the package received does not verify, so nothing was written to "+out, "export again")
	case errors.Is(err, fs.ErrExist):
		return got, badInput(err, ro.Artefact()+" already exists: an exhibit is never replaced", "choose another --out, or move the old one away first")
	case err != nil && got.Path != "":
		return got, failed(err, "the package is at "+got.Path+" and verified, but the disclosure was not recorded: "+err.Error(),
			"do not hand it over: delete it and export again")
	case err != nil:
		return got, err
	}
	return got, nil
}

// printExported tells the operator what was made, what it covers and how
// the recipient checks it.
func printExported(w io.Writer, got export.Received, encrypted bool, cfg *config.Config) {
	rep := got.Report
	fmt.Fprintf(w, "evidence package: %s\n", got.Path)
	if encrypted {
		fmt.Fprintf(w, "encrypted: the recipient decrypts with: age -d -i KEY -o package.zip %s (or age -d for a passphrase), then unzips\n", filepath.Base(got.Path))
	}
	fmt.Fprintf(w, "verified: %d files, %d masters, signed by %s (box %s); disclosure recorded in the audit log\n", rep.Files, rep.Masters, rep.Fingerprint, rep.Box)
	if m := rep.Manifest; m != nil {
		for _, cam := range m.Cameras {
			if len(cam.Uncovered) == 0 {
				continue
			}
			fmt.Fprintf(w, "NOT COVERED: camera %s has no footage for part of the window asked for:\n", cam.ID)
			for _, u := range cam.Uncovered {
				fmt.Fprintf(w, "  %s – %s (%s UTC – %s UTC): %s\n", localTime(u.From, cfg.Location), localTime(u.To, cfg.Location),
					u.From.UTC().Format("15:04:05"), u.To.UTC().Format("15:04:05"), uncoveredWhy(u, cam.Gaps))
			}
		}
	}
	fmt.Fprintf(w, "the recipient verifies it with OpenSSH and coreutils, in the package directory (README.txt says so too):\n")
	fmt.Fprintf(w, "  ssh-keygen -Y verify -f allowed_signers -I %s -n cctv-evidence -s SHA256SUMS.sig < SHA256SUMS\n", cfg.BoxID)
	fmt.Fprintf(w, "  sha256sum --strict -c SHA256SUMS\n")
}

// uncoveredWhy gives the recorder's reasons for an uncovered span: the
// reasons of the gap records overlapping it, or that none explains it.
func uncoveredWhy(u export.Window, gaps []export.Gap) string {
	var why []string
	for _, g := range gaps {
		if g.From.Before(u.To) && g.To.After(u.From) && !slices.Contains(why, g.Reason) {
			why = append(why, g.Reason)
		}
	}
	if len(why) == 0 {
		return "no recording and no gap record (before recording began, or deleted: see cctv list --deleted)"
	}
	return strings.Join(why, "; ")
}

// exportRecipients reads --encrypt-to and --passphrase.
func exportRecipients(c *cli.Context) ([]age.Recipient, error) {
	var recipients []age.Recipient
	for _, r := range c.StringSlice("encrypt-to") {
		rec, err := export.ParseRecipient(r)
		if err != nil {
			return nil, badInput(err, "--encrypt-to: "+err.Error())
		}
		recipients = append(recipients, rec)
	}
	if !c.Bool("passphrase") {
		return recipients, nil
	}
	if len(recipients) > 0 {
		return nil, badInput(nil, "use --encrypt-to or --passphrase, not both")
	}
	p, err := readPassphrase(c.App.ErrWriter, true)
	if err != nil {
		return nil, err
	}
	rec, err := age.NewScryptRecipient(p)
	if err != nil {
		return nil, failed(err, "passphrase: "+err.Error())
	}
	return []age.Recipient{rec}, nil
}
