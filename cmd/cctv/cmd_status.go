package main

import (
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/termtext"
)

func cmdStatus() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "per camera state and footage, disk, alerts (exit 1 while any alert is active)",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			var out api.Status
			if err := ask(c.Context, cfg, api.CmdStatus, nil, &out, nil); err != nil {
				return err
			}
			if c.Bool("json") {
				if err := writeJSON(c.App.Writer, out); err != nil {
					return err
				}
			} else {
				printStatus(c.App.Writer, out, cfg.Location)
			}
			if len(out.Alerts) > 0 {
				return &userError{code: exitFailed, msg: fmt.Sprintf("%d alert(s) active", len(out.Alerts))}
			}
			return nil
		}),
	}
}

func printStatus(w io.Writer, s api.Status, loc *time.Location) {
	fmt.Fprintf(w, "%s (%s) at %s\n", termtext.Esc(s.Site), termtext.Esc(s.Box), localTime(s.Now, loc))
	if s.Key != "" {
		fmt.Fprintf(w, "signing key %s\n", s.Key)
	}
	fmt.Fprintln(w)
	for _, c := range s.Cameras {
		fmt.Fprintf(w, "%-16s %-10s", c.Camera, c.State)
		switch {
		case !c.DownSince.IsZero():
			fmt.Fprintf(w, " down since %s", localTime(c.DownSince, loc))
		case !c.Since.IsZero():
			fmt.Fprintf(w, " since %s", localTime(c.Since, loc))
		}
		if c.Reason != "" {
			fmt.Fprintf(w, " (%s)", termtext.Esc(c.Reason))
		}
		fmt.Fprintln(w)
		if c.Segments > 0 {
			fmt.Fprintf(w, "  footage %s to %s, %d segments, %d kbit/s, %.1f fps, %d gaps today\n",
				localTime(c.Oldest, loc), localTime(c.Newest, loc), c.Segments, c.BitrateKbps, c.FPS, c.GapsToday)
		}
		if c.LostPackets+c.DroppedFrames+c.InputErrors > 0 {
			fmt.Fprintf(w, "  since the recorder started: %d packets lost, %d frames dropped, %d refused by the muxer\n",
				c.LostPackets, c.DroppedFrames, c.InputErrors)
		}
	}
	if s.Disk.TotalBytes > 0 {
		fmt.Fprintf(w, "\ndisk %s: %.1f GB free of %.1f GB", s.Disk.DataDir, float64(s.Disk.FreeBytes)/1e9, float64(s.Disk.TotalBytes)/1e9)
		if s.Retention.CapacityDays > 0 {
			fmt.Fprintf(w, " (about %.1f days of footage at the current rate)", s.Retention.CapacityDays)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "retention: %.1f days kept, target %.0f days\n", s.Retention.AchievedDays, s.Retention.TargetDays)
	if len(s.Holds) > 0 {
		fmt.Fprintf(w, "legal holds in force: %d\n", len(s.Holds))
	}
	if len(s.Alerts) == 0 {
		fmt.Fprintln(w, "\nno alerts")
		return
	}
	fmt.Fprintln(w, "\nALERTS:")
	for _, a := range s.Alerts {
		fmt.Fprintf(w, "  ! %s\n", termtext.Esc(a))
	}
}
