// Package demo is the whole job on synthetic cameras, with no configuration:
// it starts two synthetic cameras in-process (H.264 over RTSP/TCP, H.265
// over RTSP/UDP), records them through the real daemon into a new data
// directory, checks the store, then — with the recorder stopped, through
// the same request path staff use — lists the footage and exports a signed
// package of both cameras with a still, received and verified as the CLI
// does. The CLI's `cctv demo` prints what it made.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/store"
)

// Options configure Run.
type Options struct {
	Dir      string        // where the demo box goes; default a new temporary directory
	Duration time.Duration // how long to record; at least 2 s
	Logger   *slog.Logger  // default: warnings and errors to stderr
	// Progress, if set, is told what the demo is doing.
	Progress io.Writer
}

// Result is what the demo made.
type Result struct {
	Dir        string // the demo box
	ConfigPath string
	Config     *config.Config
	List       api.List // the footage recorded
	// Package is the verified evidence package, of the window From–To.
	Package     string
	From, To    time.Time
	Fingerprint string // of the demo box's key
}

// Run records, checks and exports as the package doc says.
func Run(ctx context.Context, o Options) (Result, error) {
	var r Result
	if o.Duration < 2*time.Second {
		return r, fmt.Errorf("demo: record at least 2s")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "cctv-demo-")
		if err != nil {
			return r, fmt.Errorf("demo: %w", err)
		}
		o.Dir = d
	}
	r.Dir = o.Dir
	cams, err := synthcam.NewServer(synthcam.ServerOptions{UDP: true, Logger: o.Logger})
	if err != nil {
		return r, fmt.Errorf("start the synthetic cameras: %w", err)
	}
	defer cams.Close()
	fmt.Fprintf(o.Progress, "starting synthetic cameras (encoding test video)...\n")
	for _, cc := range []synthcam.CameraConfig{
		{Path: "front-desk", Codec: media.H264, Width: 640, Height: 360, FPS: 25, GOP: 50, Bitrate: 1_000_000, SEI: true},
		{Path: "lobby", Codec: media.H265, Width: 640, Height: 360, FPS: 25, GOP: 50, Bitrate: 800_000},
	} {
		if _, err := cams.AddCamera(cc); err != nil {
			return r, fmt.Errorf("start synthetic camera %s: %w", cc.Path, err)
		}
	}
	cfg, key, err := setUp(o.Dir, cams)
	if err != nil {
		return r, err
	}
	r.ConfigPath, r.Config, r.Fingerprint = filepath.Join(o.Dir, "cctv.toml"), cfg, key.Fingerprint()

	fmt.Fprintf(o.Progress, "recording 2 cameras for %s into %s ...\n", o.Duration, cfg.DataDir)
	recCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	if err := daemon.Run(recCtx, daemon.Options{Config: cfg, ConfigPath: r.ConfigPath, Key: key, Logger: o.Logger}); err != nil {
		return r, err
	}
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("demo interrupted: %w", err)
	}

	// With the recorder stopped, staff commands answer from the store
	// directly: the same requests, role checks and audit entries.
	to := time.Now().UTC()
	if err := daemon.Direct(ctx, cfg, api.CmdList, api.ListRequest{From: to.Add(-o.Duration - time.Minute), To: to}, &r.List, nil); err != nil {
		return r, err
	}
	var first, last time.Time // footage every camera has
	for _, cam := range r.List.Cameras {
		segs := cam.Segments
		if len(segs) == 0 {
			return r, fmt.Errorf("the demo recorded nothing from camera %s", cam.Camera)
		}
		if first.IsZero() || segs[0].Start.After(first) {
			first = segs[0].Start
		}
		if end := segs[len(segs)-1].End; last.IsZero() || end.Before(last) {
			last = end
		}
	}
	if err := check(cfg, key); err != nil {
		return r, err
	}

	// Export a window of both cameras with a still, as staff would for the
	// police, received and verified as the CLI does.
	r.From, r.To = first.Add(time.Second), last.Add(-time.Second)
	if r.To.Sub(r.From) > 10*time.Second {
		r.To = r.From.Add(10 * time.Second)
	}
	if !r.To.After(r.From) {
		return r, fmt.Errorf("the demo recorded too little to export; run it with a longer --duration")
	}
	outDir := filepath.Join(o.Dir, "packages")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		return r, err
	}
	args := api.ExportRequest{Cameras: []string{"front-desk", "lobby"}, From: r.From, To: r.To, Case: "DEMO-0001",
		Reason: "Demonstration export", Recipient: "PC 0000 Demo, Example Constabulary",
		Stills: []time.Time{r.From.Add(r.To.Sub(r.From) / 2)}}
	var res api.ExportResult
	err = daemon.Direct(ctx, cfg, api.CmdExport, args, &res, func(rd io.Reader) (any, error) {
		got, err := export.Receive(ctx, rd, export.ReceiveOptions{OutDir: outDir, Name: res.Package,
			Verify: export.VerifyOptions{Fingerprint: key.Fingerprint()}})
		if err != nil {
			return nil, err
		}
		r.Package = got.Path
		return api.ExportReceipt{Package: res.Package, Artefact: filepath.Base(got.Path), SumsSHA256: got.SumsSHA256}, nil
	})
	if err != nil {
		return r, fmt.Errorf("the demo export failed: %w", err)
	}
	return r, nil
}

// setUp writes the demo's config and creates its data directory and key.
func setUp(dir string, cams *synthcam.Server) (*config.Config, *boxkey.Key, error) {
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
		return nil, nil, fmt.Errorf("write the demo config: %w", err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	if err := store.Init(cfg.DataDir, cfg.BoxID); err != nil {
		return nil, nil, fmt.Errorf("create the demo data directory: %w", err)
	}
	key, err := boxkey.Init(cfg.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("create the demo signing key: %w", err)
	}
	return cfg, key, nil
}

// check re-hashes every segment of the demo store against its seal.
func check(cfg *config.Config, key *boxkey.Key) error {
	st, err := daemon.OpenStore(cfg, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	vs, err := st.Check(true, key.Verify)
	if err != nil {
		return fmt.Errorf("check the store: %w", err)
	}
	if len(vs) > 0 {
		return fmt.Errorf("the demo store has %d violation(s), the first: %s %s %s %s", len(vs), vs[0].Kind, vs[0].Camera, vs[0].Path, vs[0].Detail)
	}
	return nil
}
