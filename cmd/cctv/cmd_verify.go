package main

import (
	"fmt"
	"os"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/council/cctv/export"
)

func cmdVerify() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify an evidence package (any machine, no configuration needed)",
		ArgsUsage: "PACKAGE-DIRECTORY",
		Description: "Checks the manifest's SSH signature against the package's allowed_signers, every file's\n" +
			"size and SHA-256, that no file is missing or extra, every master against its seal, every\n" +
			"seal's signature and the seal chain. Lists every problem; exit 1 if there is any.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "fingerprint", Usage: "also require the package to be signed by this key (SHA256:…, from the box's registration)"},
			&cli.StringFlag{Name: "identity", Usage: "decrypt an encrypted (.age) package with this age identity file or SSH private key"},
			&cli.BoolFlag{Name: "passphrase", Usage: "decrypt an encrypted (.age) package with a passphrase (asked on the terminal)"},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return &usageError{msg: "give the package directory: cctv verify PACKAGE"}
			}
			given := c.Args().First()
			if _, err := os.Stat(given); err != nil {
				return badInput(err, "no package at "+given, "give the package directory, its .zip or its .age file")
			}
			var ids []age.Identity
			if p := c.String("identity"); p != "" {
				var err error
				if ids, err = loadIdentities(p); err != nil {
					return err
				}
			}
			if c.Bool("passphrase") {
				p, err := readPassphrase(c.App.ErrWriter, false)
				if err != nil {
					return err
				}
				id, err := age.NewScryptIdentity(p)
				if err != nil {
					return failed(err, "passphrase: "+err.Error())
				}
				ids = append(ids, id)
			}
			dir, cleanup, err := export.Unpack(given, ids)
			if err != nil {
				return failed(err, "open "+given+": "+err.Error())
			}
			defer cleanup()
			rep, err := export.Verify(dir, export.VerifyOptions{Fingerprint: c.String("fingerprint")})
			if err != nil {
				return failed(err, "verify "+given+": "+err.Error())
			}
			if c.Bool("json") {
				if err := writeJSON(c.App.Writer, rep); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintf(c.App.Writer, "FAIL %s\n", p)
				}
			}
			if !rep.OK() {
				return failed(nil, fmt.Sprintf("the package does not verify: %d problem(s); do not rely on it", len(rep.Problems)),
					"ask the sender for a fresh copy")
			}
			if !c.Bool("json") {
				fmt.Fprintf(c.App.Writer, "OK: case %s from box %s, signed by %s; %d files and %d masters match their hashes and seals\n",
					rep.Case, rep.Box, rep.Fingerprint, rep.Files, rep.Masters)
			}
			return nil
		},
	}
}
