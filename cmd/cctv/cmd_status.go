package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/config"

	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
)

// statusJSON is the stable `cctv status --json` output (documented in README).
type statusJSON struct {
	Box     string             `json:"box"`
	Site    string             `json:"site"`
	Now     time.Time          `json:"now"`
	Cameras []cameraStatusJSON `json:"cameras"`
	Disk    diskJSON           `json:"disk"`
	Alerts  []string           `json:"alerts"`
}

type cameraStatusJSON struct {
	Camera      string    `json:"camera"`
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	Since       time.Time `json:"since,omitzero"`
	Codec       string    `json:"codec,omitempty"`
	Oldest      time.Time `json:"oldest,omitzero"`
	Newest      time.Time `json:"newest,omitzero"`
	Segments    int       `json:"segments"`
	BitrateKbps int64     `json:"bitrate_kbps"` // of the newest segment
	FPS         float64   `json:"fps"`          // of the newest segment
	GapsToday   int       `json:"gaps_today"`
	LastFrame   time.Time `json:"last_frame,omitzero"`
	// LastFrameAgeS is how long ago the last frame arrived, in seconds.
	LastFrameAgeS float64 `json:"last_frame_age_s"`
}

type diskJSON struct {
	DataDir    string `json:"data_dir"`
	FreeBytes  uint64 `json:"free_bytes"`
	TotalBytes uint64 `json:"total_bytes"`
}

func cmdStatus() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "per camera state and footage, disk, alerts (exit 1 while any alert is active)",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "machine-readable output"}},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			var out statusJSON
			if err := callDaemon(c.Context, cfg, "status", nil, &out); err != nil {
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

// buildStatus assembles the status of the box from the store and, in the
// daemon, the recorder's live view of each camera (nil otherwise).
func buildStatus(st *store.Store, cfg *config.Config, live []recorder.Health) (statusJSON, error) {
	now := time.Now().UTC()
	out := statusJSON{Box: cfg.BoxID, Site: cfg.Site, Now: now, Cameras: []cameraStatusJSON{}, Alerts: []string{}}
	states, err := st.CameraStates()
	if err != nil {
		return out, fmt.Errorf("read camera states: %w", err)
	}
	cams, err := selectCameras("", cfg, st)
	if err != nil {
		return out, err
	}
	y, m, d := now.In(cfg.Location).Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, cfg.Location)
	for _, cam := range cams {
		cs := cameraStatusJSON{Camera: cam, State: "unknown"}
		if i := slices.IndexFunc(states, func(s store.CameraState) bool { return s.Camera == cam }); i >= 0 {
			s := states[i]
			cs.State, cs.Reason, cs.Since, cs.Codec = s.State, s.Reason, s.Since, s.Codec
		}
		if i := slices.IndexFunc(live, func(h recorder.Health) bool { return h.Camera == cam }); i >= 0 {
			h := live[i]
			cs.State, cs.Reason, cs.Since, cs.Codec = h.State, h.Reason, h.Since, h.Codec
			cs.LastFrame = h.LastFrame
			if !h.LastFrame.IsZero() {
				cs.LastFrameAgeS = float64(int(now.Sub(h.LastFrame).Seconds()*10)) / 10
			}
		}
		oldest, newest, n, err := st.Span(cam)
		if err != nil {
			return out, fmt.Errorf("read footage span: %w", err)
		}
		cs.Oldest, cs.Newest, cs.Segments = oldest, newest, n
		if n > 0 {
			segs, err := st.Segments(cam, newest.Add(-time.Nanosecond), newest)
			if err == nil && len(segs) > 0 {
				s := segs[len(segs)-1]
				if dur := s.End.Sub(s.Start).Seconds(); dur > 0 {
					cs.BitrateKbps = int64(float64(s.Bytes) * 8 / dur / 1000)
					cs.FPS = float64(int(float64(s.Frames)/dur*10+0.5)) / 10
				}
				if slices.Contains(s.Flags, "time-untrusted") {
					out.Alerts = append(out.Alerts, fmt.Sprintf("camera %s: footage marked time-untrusted: the box clock was before the build date", cam))
				}
			}
		}
		gaps, err := st.Gaps(cam, midnight, now)
		if err != nil {
			return out, fmt.Errorf("read gaps: %w", err)
		}
		cs.GapsToday = len(gaps)
		if (cs.State == "down" || cs.State == "error") && now.Sub(cs.Since) > time.Minute {
			out.Alerts = append(out.Alerts, fmt.Sprintf("camera %s %s since %s: %s", cam, cs.State, localTime(cs.Since, cfg.Location), cs.Reason))
		}
		out.Cameras = append(out.Cameras, cs)
	}
	out.Disk.DataDir = cfg.DataDir
	if free, total, err := fsutil.FreeSpace(cfg.DataDir); err == nil {
		out.Disk.FreeBytes, out.Disk.TotalBytes = free, total
		if total > 0 && float64(free)/float64(total) < cfg.MinFree.Fraction() {
			out.Alerts = append(out.Alerts, fmt.Sprintf("disk pressure: %.1f%% free on %s, below min_free %s", 100*float64(free)/float64(total), cfg.DataDir, cfg.MinFree))
		}
	}
	return out, nil
}

func printStatus(w io.Writer, s statusJSON, loc *time.Location) {
	fmt.Fprintf(w, "%s (%s) at %s\n\n", s.Site, s.Box, localTime(s.Now, loc))
	for _, c := range s.Cameras {
		fmt.Fprintf(w, "%-16s %-10s", c.Camera, c.State)
		if !c.Since.IsZero() {
			fmt.Fprintf(w, " since %s", localTime(c.Since, loc))
		}
		if c.Reason != "" {
			fmt.Fprintf(w, " (%s)", c.Reason)
		}
		fmt.Fprintln(w)
		if c.Segments > 0 {
			fmt.Fprintf(w, "  footage %s to %s, %d segments, %d kbit/s, %.1f fps, %d gaps today\n",
				localTime(c.Oldest, loc), localTime(c.Newest, loc), c.Segments, c.BitrateKbps, c.FPS, c.GapsToday)
		}
	}
	if s.Disk.TotalBytes > 0 {
		fmt.Fprintf(w, "\ndisk %s: %.1f GB free of %.1f GB\n", s.Disk.DataDir, float64(s.Disk.FreeBytes)/1e9, float64(s.Disk.TotalBytes)/1e9)
	}
	if len(s.Alerts) == 0 {
		fmt.Fprintln(w, "\nno alerts")
		return
	}
	fmt.Fprintln(w, "\nALERTS:")
	for _, a := range s.Alerts {
		fmt.Fprintf(w, "  ! %s\n", a)
	}
}
