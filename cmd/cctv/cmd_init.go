package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/config"

	"github.com/council/cctv/store"
)

func cmdInit() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create the data directory with its marker file and index",
		Description: "Creates data_dir from the configuration, its marker file and an empty index.\n" +
			"Refuses to touch a directory that holds anything but a cctv store.",
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			if err := store.Init(cfg.DataDir, cfg.BoxID); err != nil {
				if errors.Is(err, store.ErrForeignDir) {
					return badInput(err, cfg.DataDir+" is not empty and is not a cctv data directory",
						"point data_dir at an empty directory or at the mounted data disk")
				}
				return failed(err, "create the data directory: "+err.Error())
			}
			fmt.Fprintf(c.App.Writer, "data directory ready: %s\n", cfg.DataDir)
			return nil
		}),
	}
}
