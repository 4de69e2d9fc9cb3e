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
	if err := record(recCtx, cfg, key, log, recordHooks{}); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return failed(ctx.Err(), "demo interrupted")
	}

	st, err := openAuditedStore(cfg, key, log)
	if err != nil {
		return err
	}
	defer st.Close()
	var out listJSON
	out.To = time.Now().UTC()
	out.From = out.To.Add(-duration - time.Minute)
	var first, last time.Time // footage every camera has
	for _, cam := range cfg.Cameras {
		segs, err := st.Segments(string(cam.ID), out.From, out.To)
		if err != nil {
			return failed(err, "read segments: "+err.Error())
		}
		gaps, err := st.Gaps(string(cam.ID), out.From, out.To)
		if err != nil {
			return failed(err, "read gaps: "+err.Error())
		}
		if len(segs) == 0 {
			return failed(nil, "the demo recorded nothing from camera "+string(cam.ID))
		}
		if first.IsZero() || segs[0].Start.After(first) {
			first = segs[0].Start
		}
		if end := segs[len(segs)-1].End; last.IsZero() || end.Before(last) {
			last = end
		}
		out.Cameras = append(out.Cameras, cameraList(string(cam.ID), segs, gaps))
	}
	printList(w, out, cfg.Location)
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

	// Export a window of both cameras with a still, as staff would for the
	// police, then verify it as the police would.
	from := first.Add(time.Second)
	to := last.Add(-time.Second)
	if to.Sub(from) > 10*time.Second {
		to = from.Add(10 * time.Second)
	}
	if !to.After(from) {
		return failed(nil, "the demo recorded too little to export; run it with a longer --duration")
	}
	me, err := api.CurrentCaller(groupsOf(cfg))
	if err != nil {
		return failed(err, "identify the demo's user: "+err.Error())
	}
	outDir := filepath.Join(dir, "packages")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		return failed(err, "create "+outDir+": "+err.Error())
	}
	args := exportArgs{Cameras: []string{"front-desk", "lobby"}, From: from, To: to, Case: "DEMO-0001",
		Reason: "Demonstration export", Recipient: "PC 0000 Demo, Example Constabulary",
		Stills: []time.Time{from.Add(to.Sub(from) / 2)}}
	pkg, err := buildExport(ctx, st, cfg, key, args, me, outDir)
	if err != nil {
		return err
	}
	rep, err := export.Verify(pkg, export.VerifyOptions{Fingerprint: key.Fingerprint()})
	if err != nil || !rep.OK() {
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "problem: %s\n", p)
		}
		return failed(err, "the demo package does not verify")
	}
	fmt.Fprintf(w, "\nexported %s – %s (both cameras, one still) and verified it:\n  %s\n",
		localTime(from, cfg.Location), to.In(cfg.Location).Format("15:04:05"), pkg)
	fmt.Fprintf(w, "\nthe police verify it with OpenSSH and coreutils alone:\n")
	fmt.Fprintf(w, "  cd %s\n", pkg)
	fmt.Fprintf(w, "  ssh-keygen -Y verify -f allowed_signers -I %s -n cctv-evidence -s manifest.json.sig < manifest.json\n", cfg.BoxID)
	fmt.Fprintf(w, "  sha256sum -c SHA256SUMS\n")
	fmt.Fprintf(w, "or all of it, seals included: cctv verify --fingerprint %s %s\n", key.Fingerprint(), pkg)

	fmt.Fprintf(w, "\nthe demo box is in %s. Try:\n", dir)
	fmt.Fprintf(w, "  ffprobe -hide_banner %s\n", filepath.Join(pkg, "video", "front-desk.mp4"))
	fmt.Fprintf(w, "  cctv --config %s list --from %q --to %q\n", cfgPath,
		out.From.Format(time.RFC3339), out.To.Format(time.RFC3339))
	fmt.Fprintf(w, "  cctv --config %s audit list\n", cfgPath)
	fmt.Fprintf(w, "  cctv --config %s check --deep\n", cfgPath)
	fmt.Fprintf(w, "remove it with: rm -r %s\n", strings.TrimSuffix(dir, "/"))
	return nil
}
