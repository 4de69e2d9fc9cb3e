package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/internal/verifycli"
)

// cmdVerify is `cctv verify`: the same command line, output and exit codes
// as the standalone cctv-verify (internal/verifycli), including exit 3 for
// an intact package whose signer was not checked. Flags are parsed there,
// so they may follow the package argument.
func cmdVerify() *cli.Command {
	return &cli.Command{
		Name:            "verify",
		Usage:           "verify an evidence package (any machine, no configuration needed)",
		ArgsUsage:       "PACKAGE [--fingerprint SHA256:… | --allowed-signers FILE] [--identity FILE] [--passphrase] [--json]",
		SkipFlagParsing: true,
		Description: "Checks the recorder's signatures of SHA256SUMS and manifest.json, every file's size and\n" +
			"SHA-256, that no file is missing or extra, every master against its seal, every seal's\n" +
			"signature, the seal chain and the audit proof. Lists every problem.\n" +
			"Exit status: 0 intact and signer checked; 1 does not verify; 2 bad usage or input\n" +
			"(an encrypted package without --identity or --passphrase); 3 intact but SIGNER NOT CHECKED.\n" +
			"Run \"cctv verify --help\" for the flags.",
		Action: func(c *cli.Context) error {
			fd := -1
			if f, ok := c.App.Reader.(*os.File); ok {
				fd = int(f.Fd())
			}
			code := verifycli.Run(c.Context, "cctv", c.Args().Slice(), verifycli.IO{
				Stdin: c.App.Reader, Stdout: c.App.Writer, Stderr: c.App.ErrWriter, StdinFd: fd,
			})
			if code == exitOK {
				return nil
			}
			return exitStatus(code)
		},
	}
}
