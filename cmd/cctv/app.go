package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/version"
)

// defaultConfigPath is where the appliance keeps its configuration.
const defaultConfigPath = "/etc/cctv/cctv.toml"

// run is the whole program: main only adds signals and os.Exit. Tests call it
// directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	return report(stderr, err)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "cctv",
		Usage:     "record CCTV cameras and export signed evidence",
		Version:   version.Version,
		Writer:    stdout,
		ErrWriter: stderr,
		// Exits happen in one place (run); urfave/cli must never call os.Exit.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "config",
				Usage:   "configuration file",
				Value:   defaultConfigPath,
				EnvVars: []string{"CCTV_CONFIG"},
			},
			&cli.StringFlag{
				Name:  "log-level",
				Usage: "debug, info, warn or error",
				Value: "info",
			},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageError{msg: err.Error()}
		},
		Commands: []*cli.Command{
			cmdInit(),
			cmdRecord(),
			cmdStatus(),
			cmdList(),
			cmdCheck(),
			cmdKeys(),
			cmdAudit(),
			cmdHold(),
			cmdRetention(),
			cmdTime(),
			cmdSAR(),
			cmdMark(),
			cmdSheet(),
			cmdPlay(),
			cmdActivity(),
			cmdLive(),
			cmdReview(),
			cmdExport(),
			cmdStill(),
			cmdVerify(),
			cmdDropin(),
			cmdDemo(),
			cmdVersion(),
		},
	}
}

// configAction wraps an action that needs the configuration: it refuses
// stray arguments, then loads the file named by --config / CCTV_CONFIG.
func configAction(fn func(c *cli.Context, cfg *config.Config) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := noArgs(c); err != nil {
			return err
		}
		cfg, err := loadConfig(c)
		if err != nil {
			return err
		}
		return fn(c, cfg)
	}
}

// loadConfig reads the configuration named by --config / CCTV_CONFIG.
func loadConfig(c *cli.Context) (*config.Config, error) {
	return config.Load(c.String("config"))
}

// newLogger writes structured logs to stderr at the --log-level.
func newLogger(c *cli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, badInput(err, "bad --log-level "+c.String("log-level"), "use debug, info, warn or error")
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level})), nil
}

// noArgs refuses stray positional arguments.
func noArgs(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return &usageError{msg: "unexpected argument " + c.Args().First()}
	}
	return nil
}
