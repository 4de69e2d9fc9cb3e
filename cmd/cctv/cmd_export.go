package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/timeinput"
	"github.com/council/cctv/internal/version"
	"github.com/council/cctv/store"
)

// exportArgs is the request of `cctv export`.
type exportArgs struct {
	Cameras   []string    `json:"cameras"`
	From      time.Time   `json:"from"`
	To        time.Time   `json:"to"`
	Case      string      `json:"case"`
	Reason    string      `json:"reason"`
	Recipient string      `json:"recipient"`
	Stills    []time.Time `json:"stills,omitempty"`
}

// exportResult is the daemon's answer; the package follows it on the socket
// as a tar stream.
type exportResult struct {
	Package string `json:"package"` // directory name
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
	Gaps    int    `json:"gaps"` // gaps inside the window, across cameras

	staged string // the built package, removed once streamed
}

// StreamTo sends the staged package as a tar stream and removes it.
func (r *exportResult) StreamTo(ctx context.Context, w io.Writer) error {
	defer os.RemoveAll(r.staged)
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(r.staged, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, err := filepath.Rel(r.staged, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// exportRequest assembles the library's request from the store.
func exportRequest(st *store.Store, cfg *config.Config, key *boxkey.Key, a exportArgs, operator, outDir string) (export.Request, error) {
	if strings.TrimSpace(a.Recipient) == "" {
		return export.Request{}, badInput(nil, "an export needs the recipient (person and organisation) for the disclosure log",
			`add --recipient "PC 1234 A. Smith, West Mercia Police"`)
	}
	if strings.TrimSpace(a.Case) == "" || strings.TrimSpace(a.Reason) == "" {
		return export.Request{}, badInput(nil, "an export needs --case and --reason")
	}
	if !a.To.After(a.From) {
		return export.Request{}, badInput(nil, "--to must be after --from")
	}
	r := export.Request{
		Site: cfg.Site, BoxID: cfg.BoxID, Location: cfg.Location, From: a.From, To: a.To,
		Case: a.Case, Reason: a.Reason, Recipient: a.Recipient, Producer: export.ProducerOf(operator),
		Stills: a.Stills, Key: key, OutDir: outDir, SoftwareVersion: version.Version,
	}
	for _, id := range a.Cameras {
		if _, err := selectCameras(id, cfg, st); err != nil {
			return r, err
		}
		segs, err := st.Segments(id, a.From, a.To)
		if err != nil {
			return r, err
		}
		gaps, err := st.Gaps(id, a.From, a.To)
		if err != nil {
			return r, err
		}
		name := id
		for _, c := range cfg.Cameras {
			if string(c.ID) == id && c.Name != "" {
				name = c.Name
			}
		}
		r.Cameras = append(r.Cameras, export.Camera{ID: id, Name: name, Segments: segs, Gaps: gaps})
	}
	return r, nil
}

// buildExport audits the disclosure, then builds the package into outDir.
// The audit entry of its own making goes into the package.
func buildExport(ctx context.Context, st *store.Store, cfg *config.Config, key *boxkey.Key, a exportArgs, by api.Caller, outDir string) (string, error) {
	r, err := exportRequest(st, cfg, key, a, by.User, outDir)
	if err != nil {
		return "", err
	}
	e, err := st.Audit(store.AuditEntry{User: by.User, UID: by.UID, Action: "export", Params: map[string]string{
		"case": a.Case, "reason": a.Reason, "recipient": a.Recipient, "cameras": strings.Join(a.Cameras, ","),
		"from": a.From.UTC().Format(time.RFC3339), "to": a.To.UTC().Format(time.RFC3339),
	}, Result: "started"})
	if err != nil {
		return "", failed(err, "the audit log cannot be written, so nothing is exported: "+err.Error())
	}
	if r.Audit, err = export.AuditProofOf(st, e.Seq); err != nil {
		return "", failed(err, "the audit proof cannot be made, so nothing is exported: "+err.Error())
	}
	pkg, err := export.Build(ctx, r)
	var nf *export.NoFootageError
	switch {
	case errors.As(err, &nf):
		return "", failed(err, nf.Error(), "see what is recorded: cctv list --from … --to …")
	case err != nil:
		return "", failed(err, "export: "+err.Error())
	}
	return pkg, nil
}

// exportCommand is the daemon's handler: build into the store's staging area
// (the daemon cannot write where staff put packages), then stream it.
func (d *service) exportCommand() api.Command {
	return api.Command{Name: "export", Role: commandRoles["export"], Handle: func(ctx context.Context, c api.Caller, raw json.RawMessage) (any, error) {
		var a exportArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, &api.Error{Code: exitUsage, Msg: "bad export request: " + err.Error()}
		}
		staging := filepath.Join(d.cfg.DataDir, "exports")
		if err := os.MkdirAll(staging, 0o750); err != nil {
			return nil, err
		}
		pkg, err := buildExport(ctx, d.st, d.cfg, d.key, a, c, staging)
		if err != nil {
			return nil, toAPIError(err)
		}
		res := &exportResult{Package: filepath.Base(pkg), staged: pkg}
		_ = filepath.WalkDir(pkg, func(p string, de fs.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				if info, err := de.Info(); err == nil {
					res.Files++
					res.Bytes += info.Size()
				}
			}
			return nil
		})
		return res, nil
	}}
}

// receivePackage unpacks the daemon's tar stream into outDir/.partial-NAME
// and renames it to outDir/NAME once complete: a failed transfer leaves
// nothing that looks like a package.
func receivePackage(r io.Reader, outDir, name string) (string, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("the daemon sent a bad package name %q", name)
	}
	final := filepath.Join(outDir, name)
	if _, err := os.Lstat(final); err == nil {
		return "", fmt.Errorf("%s already exists", final)
	}
	tmp, err := os.MkdirTemp(outDir, ".partial-"+name+"-")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("receive package: %w", err)
		}
		clean := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || clean != h.Name || strings.HasPrefix(clean, "../") || path.IsAbs(clean) {
			return "", fmt.Errorf("receive package: unexpected entry %q", h.Name)
		}
		dst := filepath.Join(tmp, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(f, tr)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("write %s: %w", dst, err)
		}
	}
	if err := syncTree(tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	ok = true
	return final, fsutil.SyncDir(outDir)
}

// syncTree fsyncs every directory under dir.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return fsutil.SyncDir(p)
	})
}

func cmdExport() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "an evidence package for police or a data subject (operator)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "camera", Usage: "camera id, or several separated by commas", Required: true},
			&cli.StringFlag{Name: "from", Usage: "start of the window", Required: true},
			&cli.StringFlag{Name: "to", Usage: "end of the window", Required: true},
			&cli.StringFlag{Name: "case", Usage: "case reference", Required: true},
			&cli.StringFlag{Name: "reason", Usage: "why the footage is disclosed", Required: true},
			&cli.StringFlag{Name: "recipient", Usage: "person and organisation receiving it", Required: true},
			&cli.StringSliceFlag{Name: "still", Usage: "a screen print at this time (HH:MM:SS on the day of --from, or a full time); repeatable"},
			&cli.StringFlag{Name: "out", Usage: "directory to put the package in", Required: true},
			&cli.BoolFlag{Name: "zip", Usage: "hand over one .zip file instead of a directory"},
			&cli.StringSliceFlag{Name: "encrypt-to", Usage: "encrypt the zip for this age (age1…) or SSH (ssh-ed25519 …) recipient; repeatable"},
			&cli.BoolFlag{Name: "passphrase", Usage: "encrypt the zip with a passphrase (asked on the terminal)"},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			from, to, err := parseWindow(c, cfg)
			if err != nil {
				return err
			}
			a := exportArgs{From: from, To: to, Case: c.String("case"), Reason: c.String("reason"), Recipient: c.String("recipient")}
			for _, id := range strings.Split(c.String("camera"), ",") {
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
			var recipients []age.Recipient
			for _, r := range c.StringSlice("encrypt-to") {
				rec, err := export.ParseRecipient(r)
				if err != nil {
					return badInput(err, "--encrypt-to: "+err.Error())
				}
				recipients = append(recipients, rec)
			}
			if c.Bool("passphrase") {
				if len(recipients) > 0 {
					return badInput(nil, "use --encrypt-to or --passphrase, not both")
				}
				p, err := readPassphrase(c.App.ErrWriter, true)
				if err != nil {
					return err
				}
				rec, err := age.NewScryptRecipient(p)
				if err != nil {
					return failed(err, "passphrase: "+err.Error())
				}
				recipients = append(recipients, rec)
			}
			out := c.String("out")
			if st, err := os.Stat(out); err != nil || !st.IsDir() {
				return badInput(err, "--out "+out+" is not a directory", "create it, or mount the USB stick first")
			}
			var res exportResult
			var pkg string
			prog := newProgress(c.App.ErrWriter)
			err = callDaemonStream(c.Context, cfg, "export", a, &res, func(r io.Reader) error {
				prog.total.Store(res.Bytes)
				var rerr error
				pkg, rerr = receivePackage(prog.reader(r), out, res.Package)
				return rerr
			})
			prog.stop()
			if errors.Is(err, errDaemonDown) {
				err = directAs(c.Context, cfg, "export", a, func(st *store.Store, by api.Caller) error {
					key, kerr := loadKey(cfg)
					if kerr != nil {
						return kerr
					}
					var berr error
					pkg, berr = buildExport(c.Context, st, cfg, key, a, by, out)
					return berr
				})
			}
			if err != nil {
				return err
			}
			rep, err := export.Verify(pkg, export.VerifyOptions{})
			if err != nil || !rep.OK() {
				for _, p := range rep.Problems {
					fmt.Fprintf(c.App.ErrWriter, "cctv: problem: %s\n", p)
				}
				return failed(err, "the package written to "+pkg+" does not verify: do not hand it over", "export again")
			}
			if c.Bool("zip") || len(recipients) > 0 {
				if pkg, err = export.Zip(pkg); err != nil {
					return failed(err, err.Error())
				}
			}
			if len(recipients) > 0 {
				if pkg, err = export.Encrypt(pkg, recipients...); err != nil {
					return failed(err, err.Error())
				}
			}
			w := c.App.Writer
			fmt.Fprintf(w, "evidence package: %s\n", pkg)
			if len(recipients) > 0 {
				fmt.Fprintf(w, "encrypted: the recipient decrypts with: age -d -i KEY -o package.zip %s (or age -d for a passphrase), then unzips\n", filepath.Base(pkg))
			}
			fmt.Fprintf(w, "verified: %d files, %d masters, signed by %s (box %s)\n", rep.Files, rep.Masters, rep.Fingerprint, rep.Box)
			fmt.Fprintf(w, "the recipient verifies it with OpenSSH and coreutils, in the package directory:\n")
			fmt.Fprintf(w, "  ssh-keygen -Y verify -f allowed_signers -I %s -n cctv-evidence -s manifest.json.sig < manifest.json\n", cfg.BoxID)
			fmt.Fprintf(w, "  sha256sum -c SHA256SUMS\n")
			return nil
		}),
	}
}
