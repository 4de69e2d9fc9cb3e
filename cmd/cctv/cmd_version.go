package main

import (
	"fmt"
	"runtime"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/version"
)

func cmdVersion() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "version, build date and FFmpeg library versions",
		Action: func(c *cli.Context) error {
			w := c.App.Writer
			fmt.Fprintf(w, "cctv %s (built %s, %s)\n", version.Version, version.BuildDate, runtime.Version())
			libs := media.Versions()
			names := make([]string, 0, len(libs))
			for k := range libs {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				fmt.Fprintf(w, "%s %s\n", k, libs[k])
			}
			return nil
		},
	}
}
