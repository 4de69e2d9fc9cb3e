package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/boxkey"
)

// evidenceNamespace is the SSH signature namespace of evidence packages.
const evidenceNamespace = "cctv-evidence"

func cmdKeys() *cli.Command {
	return &cli.Command{
		Name:  "keys",
		Usage: "the box signing key",
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "create the Ed25519 signing key (never overwrites one)",
				Action: func(c *cli.Context) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					key, err := boxkey.Init(cfg.KeyFile)
					if errors.Is(err, boxkey.ErrExists) {
						return failed(err, "a signing key already exists at "+cfg.KeyFile,
							"show it with: cctv keys show",
							"a key is never overwritten: packages signed with it must stay verifiable")
					}
					if err != nil {
						return failed(err, "create the signing key: "+err.Error())
					}
					fmt.Fprintf(c.App.Writer, "created signing key %s\n", cfg.KeyFile)
					printKey(c, key, cfg.BoxID)
					auditKeyInit(c, cfg, key)
					return nil
				},
			},
			{
				Name:  "show",
				Usage: "print the public key and its fingerprint, for registering with the police",
				Action: func(c *cli.Context) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					key, err := daemon.LoadKey(cfg)
					if err != nil {
						return err
					}
					printKey(c, key, cfg.BoxID)
					return nil
				},
			},
		},
	}
}

func printKey(c *cli.Context, key *boxkey.Key, boxID string) {
	w := c.App.Writer
	fmt.Fprintf(w, "fingerprint: %s\n", key.Fingerprint())
	fmt.Fprintf(w, "public key:  %s\n", key.AuthorizedKey())
	fmt.Fprintf(w, "allowed_signers line:\n%s\n", key.AllowedSigners(boxID, evidenceNamespace))
}

// auditKeyInit records a new key in the audit log when the store is there to
// take it (on a new box the key comes first; the daemon's start entry then
// records the key's fingerprint).
func auditKeyInit(c *cli.Context, cfg *config.Config, key *boxkey.Key) {
	switch err := daemon.AuditKeyInit(cfg, key); {
	case errors.Is(err, daemon.ErrNoStore):
		fmt.Fprintf(c.App.Writer, "not in the audit log yet: the recorder's start records the key's fingerprint\n")
	case err != nil:
		fmt.Fprintf(c.App.ErrWriter, "cctv: warning: the key was created but could not be audited: %v\n", err)
	}
}
