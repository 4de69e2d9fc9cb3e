// Package verifycli is the command line of evidence package verification,
// shared by `cctv verify` and the standalone `cctv-verify` so that both
// behave and print alike. It is pure Go (no cgo), like export/evidence.
//
// Exit codes:
//
//	0  the package is intact and its signer was checked against
//	   --fingerprint or --allowed-signers
//	1  the package does not verify (every problem is listed), or it could
//	   not be read, or verification was interrupted
//	2  bad usage or input: no package given, an unknown flag, an
//	   encrypted package without --identity or --passphrase, an unreadable
//	   identity or allowed-signers file
//	3  the package is intact but its signer was NOT checked: no
//	   --fingerprint or --allowed-signers was given
package verifycli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/term"

	"github.com/council/cctv/export/evidence"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitFailed    = 1
	ExitUsage     = 2
	ExitUnchecked = 3
)

// EnvPassphrase is the environment variable --passphrase reads first.
const EnvPassphrase = "CCTV_PASSPHRASE"

// Usage is the help text; %[1]s is the program name.
const Usage = `usage: %[1]s PACKAGE [--fingerprint SHA256:… | --allowed-signers FILE]
          [--identity FILE]... [--passphrase] [--json]

Verifies a cctv evidence package: a directory, its .zip, or its .age file.
Checks the recorder's signatures of SHA256SUMS and manifest.json, that the
files are exactly those listed with their sizes and SHA-256 hashes, every
recording against its seal, every seal's signature, the seal chain of each
camera and the audit proof. Every problem is listed, naming its file.
Flags may come before or after PACKAGE.

  --fingerprint SHA256:…   the key fingerprint registered for the recorder;
                           the package must be signed by that key
  --allowed-signers FILE   an OpenSSH allowed-signers file of trusted
                           recorder keys (principal = recorder id)
  --identity FILE          decrypt an .age package with this age identity
                           file or unencrypted SSH private key (repeatable)
  --passphrase             decrypt an .age package with a passphrase (asked
                           on the terminal, or from $CCTV_PASSPHRASE)
  --json                   print the report as JSON

Exit status: 0 intact and signer checked; 1 does not verify; 2 bad usage or
input; 3 intact but SIGNER NOT CHECKED (give --fingerprint).
`

// options are the parsed command line.
type options struct {
	pkg            string
	fingerprint    string
	allowedSigners string
	identities     []string
	passphrase     bool
	json           bool
	help           bool
}

type usageErr string

func (e usageErr) Error() string { return string(e) }

// parse reads flags and the one package argument in any order. "--" ends
// the flags.
func parse(args []string) (options, error) {
	var o options
	var pos []string
	value := func(i *int, name, inline string, has bool) (string, error) {
		if has {
			return inline, nil
		}
		if *i+1 >= len(args) {
			return "", usageErr("flag --" + name + " needs a value")
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, inline, has := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var err error
		switch name {
		case "fingerprint":
			o.fingerprint, err = value(&i, name, inline, has)
		case "allowed-signers":
			o.allowedSigners, err = value(&i, name, inline, has)
		case "identity", "i":
			var v string
			v, err = value(&i, name, inline, has)
			o.identities = append(o.identities, v)
		case "passphrase":
			o.passphrase = true
		case "json":
			o.json = true
		case "h", "help":
			o.help = true
		default:
			return o, usageErr("unknown flag " + a)
		}
		if err != nil {
			return o, err
		}
	}
	if o.help {
		return o, nil
	}
	switch len(pos) {
	case 0:
		return o, usageErr("give the package: a directory, its .zip or its .age file")
	case 1:
		o.pkg = pos[0]
	default:
		return o, usageErr(fmt.Sprintf("give one package, not %d: %s", len(pos), strings.Join(pos, " ")))
	}
	if o.fingerprint != "" && !strings.HasPrefix(o.fingerprint, "SHA256:") {
		return o, usageErr(fmt.Sprintf("--fingerprint %q: want the form SHA256:… as ssh-keygen -l prints it", o.fingerprint))
	}
	return o, nil
}

// IO is where Run reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StdinFd is the terminal to ask the passphrase on; -1 for none.
	StdinFd int
}

// Run verifies the package named in args (without the program name) and
// returns the exit code. prog names the program in messages ("cctv",
// "cctv-verify").
func Run(ctx context.Context, prog string, args []string, stdio IO) int {
	errf := func(code int, msg string, hints ...string) int {
		fmt.Fprintf(stdio.Stderr, "%s: error: %s\n", prog, msg)
		for _, h := range hints {
			fmt.Fprintf(stdio.Stderr, "%s: hint: %s\n", prog, h)
		}
		return code
	}
	o, err := parse(args)
	if err != nil {
		return errf(ExitUsage, err.Error(), "see: "+prog+" --help")
	}
	if o.help {
		fmt.Fprintf(stdio.Stdout, Usage, prog)
		return ExitOK
	}
	vo := evidence.Options{Fingerprint: o.fingerprint}
	if o.allowedSigners != "" {
		b, err := os.ReadFile(o.allowedSigners)
		if err != nil {
			return errf(ExitUsage, "read the allowed-signers file: "+err.Error())
		}
		if vo.AllowedSigners, err = evidence.ParseAllowedSigners(b); err != nil {
			return errf(ExitUsage, o.allowedSigners+": "+err.Error(), "each line: RECORDER-ID namespaces=\"cctv-evidence\" ssh-ed25519 AAAA…")
		}
	}
	var ids []age.Identity
	for _, p := range o.identities {
		got, err := loadIdentities(p)
		if err != nil {
			return errf(ExitUsage, err.Error())
		}
		ids = append(ids, got...)
	}
	if o.passphrase {
		p, err := readPassphrase(stdio)
		if err != nil {
			return errf(ExitUsage, err.Error(), "set it in the environment variable "+EnvPassphrase)
		}
		id, err := age.NewScryptIdentity(p)
		if err != nil {
			return errf(ExitUsage, "passphrase: "+err.Error())
		}
		ids = append(ids, id)
	}
	if _, err := os.Stat(o.pkg); err != nil {
		return errf(ExitUsage, "no package at "+o.pkg, "give the package directory, its .zip or its .age file")
	}
	pkg, err := evidence.Open(o.pkg, ids)
	switch {
	case errors.Is(err, evidence.ErrEncrypted):
		return errf(ExitUsage, o.pkg+" is encrypted", "give the identity file it was encrypted to (--identity FILE) or --passphrase")
	case err != nil:
		return errf(ExitFailed, err.Error(), "ask the sender for a fresh copy")
	}
	defer pkg.Close() // temporary files only
	rep, err := evidence.Verify(ctx, pkg, vo)
	if err != nil {
		if ctx.Err() != nil {
			return errf(ExitFailed, "interrupted: the package was not fully verified")
		}
		return errf(ExitFailed, "verify "+o.pkg+": "+err.Error())
	}
	return report(stdio, prog, o, rep)
}

// jsonReport is the --json output: the report and the verdict.
type jsonReport struct {
	evidence.Report
	Verdict  string `json:"verdict"` // "ok", "failed", "signer-not-checked"
	ExitCode int    `json:"exit_code"`
}

func report(stdio IO, prog string, o options, rep evidence.Report) int {
	code, verdict := ExitOK, "ok"
	switch {
	case !rep.OK():
		code, verdict = ExitFailed, "failed"
	case !rep.SignerChecked:
		code, verdict = ExitUnchecked, "signer-not-checked"
	}
	if o.json {
		enc := json.NewEncoder(stdio.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(jsonReport{Report: rep, Verdict: verdict, ExitCode: code}); err != nil {
			return ExitFailed
		}
		return code
	}
	w := stdio.Stdout
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "FAIL %s\n", p)
	}
	what := fmt.Sprintf("case %s", rep.Case)
	if rep.Exhibit != "" {
		what += ", exhibit " + rep.Exhibit
	}
	recordings := fmt.Sprintf("%d recordings match their hashes and seals", rep.Masters)
	if m := rep.Manifest; m != nil && m.Format == evidence.FormatSAR {
		what = "subject access package " + rep.Case
		recordings = fmt.Sprintf("redacted copies of %d sealed recordings (not included)", sealedMasters(m))
	}
	switch code {
	case ExitFailed:
		fmt.Fprintf(stdio.Stderr, "%s: error: the package does not verify: %d problem(s) listed above; do not rely on it\n", prog, len(rep.Problems))
		fmt.Fprintf(stdio.Stderr, "%s: hint: ask the sender for a fresh copy\n", prog)
		return code
	case ExitUnchecked:
		fmt.Fprintf(w, "INTACT, BUT THE SIGNER WAS NOT CHECKED: %s from recorder %s, signed by key %s; %d files and %s\n",
			what, rep.Box, rep.Fingerprint, rep.Files, recordings)
		fmt.Fprintf(stdio.Stderr, "%s: WARNING: ANYONE CAN SIGN A PACKAGE WITH THEIR OWN KEY AND RECORDER NAME. CHECK THAT %s IS THE KEY REGISTERED FOR RECORDER %s, THEN RUN:\n", prog, rep.Fingerprint, rep.Box)
		fmt.Fprintf(stdio.Stderr, "%s: hint: %s verify %s --fingerprint %s\n", prog, prog, o.pkg, rep.Fingerprint)
		return code
	}
	by := "--fingerprint"
	if o.fingerprint == "" {
		by = "--allowed-signers"
	}
	fmt.Fprintf(w, "OK: %s from recorder %s, signed by key %s (checked against %s); %d files (%d bytes) and %s",
		what, rep.Box, rep.Fingerprint, by, rep.Files, rep.Bytes, recordings)
	if rep.Audit != nil {
		fmt.Fprintf(w, "; audit entries %s are in the signed audit log of %d entries", seqs(rep.Audit.Entries), rep.Audit.TreeSize)
	}
	fmt.Fprintln(w)
	return code
}

func seqs(s []int64) string {
	var b strings.Builder
	for i, n := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d", n)
	}
	return b.String()
}

func loadIdentities(path string) ([]age.Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	if ids, err := age.ParseIdentities(bytes.NewReader(b)); err == nil {
		return ids, nil
	}
	id, err := agessh.ParseIdentity(b)
	if err != nil {
		return nil, fmt.Errorf("%s is neither an age identity file nor an unencrypted OpenSSH private key", path)
	}
	return []age.Identity{id}, nil
}

// readPassphrase takes the passphrase from EnvPassphrase, else asks on the
// terminal.
func readPassphrase(stdio IO) (string, error) {
	if p := os.Getenv(EnvPassphrase); p != "" {
		return p, nil
	}
	if stdio.StdinFd < 0 || !term.IsTerminal(stdio.StdinFd) {
		if stdio.Stdin != nil {
			if line, err := bufio.NewReader(stdio.Stdin).ReadString('\n'); err == nil || (err == io.EOF && line != "") {
				return strings.TrimRight(line, "\r\n"), nil
			}
		}
		return "", errors.New("no terminal to ask for the passphrase on")
	}
	fmt.Fprint(stdio.Stderr, "passphrase: ")
	p, err := term.ReadPassword(stdio.StdinFd)
	fmt.Fprintln(stdio.Stderr)
	if err != nil {
		return "", fmt.Errorf("read the passphrase: %w", err)
	}
	return string(p), nil
}

// sealedMasters counts the distinct sealed masters the redacted copies of
// a subject access package were made from.
func sealedMasters(m *evidence.Manifest) int {
	seen := map[string]bool{}
	for _, f := range m.Files {
		if f.Derivation != nil {
			for _, sm := range f.Derivation.Masters {
				seen[sm.SHA256] = true
			}
		}
	}
	return len(seen)
}
