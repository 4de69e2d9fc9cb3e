package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/store"
)

func cmdDemo() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "record synthetic cameras through the real recorder into a temporary data dir",
		Description: "Starts two synthetic cameras in-process (H.264 over RTSP/TCP, H.265 over RTSP/UDP),\n" +
			"records them, checks the store and prints what was recorded and where. No config needed.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Value: 20 * time.Second, Usage: "how long to record"},
			&cli.StringFlag{Name: "dir", Usage: "where to put the demo box (default: a new temporary directory)"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			if c.Duration("duration") < 2*time.Second {
				return badInput(nil, "--duration must be at least 2s")
			}
			return demo(c.Context, c.App.Writer, c.String("dir"), c.Duration("duration"))
		},
	}
}

func demo(ctx context.Context, w io.Writer, dir string, duration time.Duration) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "cctv-demo-")
		if err != nil {
			return failed(err, "create a temporary directory: "+err.Error())
		}
		dir = d
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cams, err := synthcam.NewServer(synthcam.ServerOptions{UDP: true, Logger: log})
	if err != nil {
		return failed(err, "start the synthetic cameras: "+err.Error())
	}
	defer cams.Close()
	fmt.Fprintf(w, "starting synthetic cameras (encoding test video)...\n")
	for _, cc := range []synthcam.CameraConfig{
		{Path: "front-desk", Codec: media.H264, Width: 640, Height: 360, FPS: 25, GOP: 50, Bitrate: 1_000_000, SEI: true},
		{Path: "lobby", Codec: media.H265, Width: 640, Height: 360, FPS: 25, GOP: 50, Bitrate: 800_000},
	} {
		if _, err := cams.AddCamera(cc); err != nil {
			return failed(err, "start synthetic camera "+cc.Path+": "+err.Error())
		}
	}

	cfgPath := filepath.Join(dir, "cctv.toml")
	toml := fmt.Sprintf(`site    = "cctv demo"
box_id  = "demo-box"
data_dir = %q
socket  = %q
key_file = %q
segment = "10s"
allowed_networks = ["127.0.0.0/8"]

[[camera]]
id        = "front-desk"
name      = "Synthetic camera, H.264 over TCP"
url       = %q
transport = "tcp"

[[camera]]
id        = "lobby"
name      = "Synthetic camera, H.265 over UDP"
url       = %q
transport = "udp"
`, filepath.Join(dir, "data"), filepath.Join(dir, "cctv.sock"), filepath.Join(dir, "box_ed25519"),
		cams.URL("front-desk"), cams.URL("lobby"))
	if err := os.WriteFile(cfgPath, []byte(toml), 0o600); err != nil {
		return failed(err, "write the demo config: "+err.Error())
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	if err := store.Init(cfg.DataDir, cfg.BoxID); err != nil {
		return failed(err, "create the demo data directory: "+err.Error())
	}
	key, err := boxkey.Init(cfg.KeyFile)
	if err != nil {
		return failed(err, "create the demo signing key: "+err.Error())
	}

	fmt.Fprintf(w, "recording 2 cameras for %s into %s ...\n", duration, cfg.DataDir)
	recCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	if err := daemon.Run(recCtx, daemon.Options{Config: cfg, ConfigPath: cfgPath, Key: key, Logger: log}); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return failed(ctx.Err(), "demo interrupted")
	}

	// With the recorder stopped, staff commands answer from the store
	// directly: the same requests, role checks and audit entries.
	to := time.Now().UTC()
	var out api.List
	if err := ask(ctx, cfg, api.CmdList, api.ListRequest{From: to.Add(-duration - time.Minute), To: to}, &out, nil); err != nil {
		return err
	}
	var first, last time.Time // footage every camera has
	for _, cam := range out.Cameras {
		segs := cam.Segments
		if len(segs) == 0 {
			return failed(nil, "the demo recorded nothing from camera "+cam.Camera)
		}
		if first.IsZero() || segs[0].Start.After(first) {
			first = segs[0].Start
		}
		if end := segs[len(segs)-1].End; last.IsZero() || end.Before(last) {
			last = end
		}
	}
	printList(w, out, cfg.Location)
	if err := demoCheck(w, cfg, key); err != nil {
		return err
	}

	// Export a window of both cameras with a still, as staff would for the
	// police, then verify it as the police would.
	from := first.Add(time.Second)
	until := last.Add(-time.Second)
	if until.Sub(from) > 10*time.Second {
		until = from.Add(10 * time.Second)
	}
	if !until.After(from) {
		return failed(nil, "the demo recorded too little to export; run it with a longer --duration")
	}
	outDir := filepath.Join(dir, "packages")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		return failed(err, "create "+outDir+": "+err.Error())
	}
	args := api.ExportRequest{Cameras: []string{"front-desk", "lobby"}, From: from, To: until, Case: "DEMO-0001",
		Reason: "Demonstration export", Recipient: "PC 0000 Demo, Example Constabulary",
		Stills: []time.Time{from.Add(until.Sub(from) / 2)}}
	var res api.ExportResult
	var pkg string
	err = ask(ctx, cfg, api.CmdExport, args, &res, func(r io.Reader) error {
		var rerr error
		pkg, _, rerr = export.Receive(ctx, r, export.ReceiveOptions{OutDir: outDir, Name: res.Package,
			Verify: export.VerifyOptions{Fingerprint: key.Fingerprint()}})
		return rerr
	})
	if err != nil {
		return failed(err, "the demo export failed: "+err.Error())
	}
	fmt.Fprintf(w, "\nexported %s – %s (both cameras, one still) and verified it:\n  %s\n",
		localTime(from, cfg.Location), until.In(cfg.Location).Format("15:04:05"), pkg)
	// The commands below must run as printed: after `make demo` cctv is
	// bin/cctv, not on PATH.
	self := "cctv"
	if strings.Contains(os.Args[0], "/") {
		self = os.Args[0]
	}
	fmt.Fprintf(w, "\nthe police verify it with OpenSSH and coreutils alone:\n")
	fmt.Fprintf(w, "  cd %s\n", pkg)
	fmt.Fprintf(w, "  ssh-keygen -Y verify -f allowed_signers -I %s -n cctv-evidence -s manifest.json.sig < manifest.json\n", cfg.BoxID)
	fmt.Fprintf(w, "  sha256sum -c SHA256SUMS\n")
	fmt.Fprintf(w, "or all of it, seals included: %s verify --fingerprint %s %s\n", self, key.Fingerprint(), pkg)

	fmt.Fprintf(w, "\nthe demo box is in %s. Try:\n", dir)
	fmt.Fprintf(w, "  ffprobe -hide_banner %s\n", filepath.Join(pkg, "video", "front-desk.mp4"))
	fmt.Fprintf(w, "  %s --config %s list --from %q --to %q\n", self, cfgPath,
		out.From.Format(time.RFC3339), out.To.Format(time.RFC3339))
	fmt.Fprintf(w, "  %s --config %s audit list\n", self, cfgPath)
	fmt.Fprintf(w, "  %s --config %s check --deep\n", self, cfgPath)
	fmt.Fprintf(w, "(the demo's recorder ran only while the demo did: status now says it is not running)\n")
	fmt.Fprintf(w, "remove it with: rm -r %s\n", strings.TrimSuffix(dir, "/"))
	return nil
}

// demoCheck re-hashes every segment of the demo store against its seal.
func demoCheck(w io.Writer, cfg *config.Config, key *boxkey.Key) error {
	st, err := daemon.OpenStore(cfg, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	vs, err := st.Check(true, key.Verify)
	if err != nil {
		return failed(err, "check the store: "+err.Error())
	}
	if len(vs) > 0 {
		for _, v := range vs {
			fmt.Fprintf(w, "violation: %s %s %s %s\n", v.Kind, v.Camera, v.Path, v.Detail)
		}
		return failed(nil, fmt.Sprintf("the demo store has %d violation(s)", len(vs)))
	}
	fmt.Fprintf(w, "\nstore check: index, files and seals agree (every segment re-hashed)\n")
	return nil
}
