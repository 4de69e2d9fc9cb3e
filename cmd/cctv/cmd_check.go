package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/store"
)

func cmdCheck() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "verify the store: index against files against seals; lists every violation",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "deep", Usage: "also re-hash every segment against its seal"}},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			key, err := daemon.LoadKey(cfg)
			if err != nil {
				return err
			}
			st, err := daemon.OpenStore(cfg, store.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer st.Close()
			vs, err := st.Check(c.Bool("deep"), key.Verify)
			if err != nil {
				return failed(err, "check the store: "+err.Error())
			}
			w := c.App.Writer
			for _, v := range vs {
				fmt.Fprintf(w, "%s: camera %s: %s: %s\n", v.Kind, v.Camera, v.Path, v.Detail)
			}
			if len(vs) > 0 {
				return failed(nil, fmt.Sprintf("%d violation(s) found in %s", len(vs), cfg.DataDir),
					"if the recorder crashed, start it: recovery on start repairs unsealed segments",
					"keep the data directory as it is and report the list above")
			}
			kind := "index, files and seals agree"
			if c.Bool("deep") {
				kind += " (every segment re-hashed)"
			}
			fmt.Fprintf(w, "ok: %s\n", kind)
			return nil
		}),
	}
}
