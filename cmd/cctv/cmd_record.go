package main

import (
	"github.com/urfave/cli/v2"

	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
)

func cmdRecord() *cli.Command {
	return &cli.Command{
		Name:  "record",
		Usage: "run the recorder daemon (foreground; systemd Type=notify)",
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			key, err := daemon.LoadKey(cfg)
			if err != nil {
				return err
			}
			return daemon.Run(c.Context, daemon.Options{Config: cfg, ConfigPath: c.String("config"), Key: key, Logger: log})
		}),
	}
}
