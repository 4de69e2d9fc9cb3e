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

// Alert timing (tests shorten them).
var (
	// cameraDownAlertAfter is how long a camera is down or in error before
	// status raises an alert (short drops are gaps, not alerts).
	cameraDownAlertAfter = time.Minute
	// clockJumpAlertFor is how long a clock jump stays an alert.
	clockJumpAlertFor = time.Hour
)

// statusJSON is the stable `cctv status --json` output (documented in README).
type statusJSON struct {
	Box       string             `json:"box"`
	Key       string             `json:"key_fingerprint,omitempty"` // the signing key, as registered with the police
	Site      string             `json:"site"`
	Now       time.Time          `json:"now"`
	Cameras   []cameraStatusJSON `json:"cameras"`
	Disk      diskJSON           `json:"disk"`
	Retention retentionStatJSON  `json:"retention"`
	Holds     []holdJSON         `json:"holds"` // in force
	Alerts    []string           `json:"alerts"`
}

// retentionStatJSON is retention achieved against the target.
type retentionStatJSON struct {
	TargetDays   float64 `json:"target_days"`
	AchievedDays float64 `json:"achieved_days"` // age of the oldest footage kept
	// CapacityDays is how many days of footage the disk holds at the current
	// recording rate (0 when not yet known).
	CapacityDays   float64 `json:"capacity_days"`
	DeletionPaused bool    `json:"deletion_paused"`
	PausedWhy      string  `json:"paused_why,omitempty"`
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
			if !h.LastJump.IsZero() && now.Sub(h.LastJump) < clockJumpAlertFor {
				out.Alerts = append(out.Alerts, fmt.Sprintf("the box clock jumped at %s (seen by camera %s); check the box's time source", localTime(h.LastJump, cfg.Location), cam))
			}
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
				if off := s.ClockOffsetMS; (s.CameraClock || s.TimeSource == "rtcp") && (off > 2000 || off < -2000) {
					out.Alerts = append(out.Alerts, fmt.Sprintf("camera %s: its clock is %.1f s off the box's; check the camera's time settings (NTP)", cam, float64(off)/1000))
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
		if (cs.State == "down" || cs.State == "error") && now.Sub(cs.Since) > cameraDownAlertAfter {
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
	if err := retentionStatus(st, cfg, &out, now); err != nil {
		return out, err
	}
	return out, nil
}

// retentionStatus fills in retention achieved against the target, the disk's
// capacity at the current rate, holds, and their alerts.
func retentionStatus(st *store.Store, cfg *config.Config, out *statusJSON, now time.Time) error {
	const day = 24 * time.Hour
	r := &out.Retention
	r.TargetDays = cfg.Retention.Duration.Hours() / 24
	var oldest time.Time
	var rate float64 // bytes per second, all cameras, from each newest segment
	pressure := false
	for _, c := range out.Cameras {
		if c.Segments == 0 {
			continue
		}
		if oldest.IsZero() || c.Oldest.Before(oldest) {
			oldest = c.Oldest
		}
		rate += float64(c.BitrateKbps) * 1000 / 8
		ds, err := st.Disposals(c.Camera, now.Add(-day), now)
		if err != nil {
			return fmt.Errorf("read disposals: %w", err)
		}
		for _, d := range ds {
			pressure = pressure || d.Why == "disk-pressure"
		}
	}
	if !oldest.IsZero() {
		r.AchievedDays = float64(int(now.Sub(oldest).Hours()/24*10)) / 10
	}
	if rate > 0 && out.Disk.TotalBytes > 0 {
		usable := float64(out.Disk.TotalBytes) * (1 - cfg.MinFree.Fraction())
		capacity := usable / rate / 86400
		r.CapacityDays = float64(int(capacity*10)) / 10
		if capacity < r.TargetDays {
			out.Alerts = append(out.Alerts, fmt.Sprintf("at the current recording rate the disk holds about %.1f days of footage, less than the %.0f-day retention", r.CapacityDays, r.TargetDays))
		}
	}
	if pressure {
		out.Alerts = append(out.Alerts, fmt.Sprintf("retention shortfall: disk pressure deleted footage early; %.1f of %.0f days kept", r.AchievedDays, r.TargetDays))
	}
	paused, why, since, err := st.DeletionPaused()
	if err != nil {
		return fmt.Errorf("read deletion state: %w", err)
	}
	r.DeletionPaused, r.PausedWhy = paused, why
	if paused {
		out.Alerts = append(out.Alerts, fmt.Sprintf("deletion paused since %s: %s; a supervisor confirms the clock with: cctv time confirm", localTime(since, cfg.Location), why))
	}
	holds, err := listHolds(st, false)
	if err != nil {
		return fmt.Errorf("read holds: %w", err)
	}
	out.Holds = holds
	for _, h := range holds {
		if h.Overdue {
			out.Alerts = append(out.Alerts, fmt.Sprintf("hold %s (case %s) is past its review date %s: review it (it stays in force until released)", h.ID, h.Case, h.Review.In(cfg.Location).Format("2006-01-02")))
		}
	}
	return nil
}

func printStatus(w io.Writer, s statusJSON, loc *time.Location) {
	fmt.Fprintf(w, "%s (%s) at %s\n", s.Site, s.Box, localTime(s.Now, loc))
	if s.Key != "" {
		fmt.Fprintf(w, "signing key %s\n", s.Key)
	}
	fmt.Fprintln(w)
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
		fmt.Fprintf(w, "  ! %s\n", a)
	}
}
