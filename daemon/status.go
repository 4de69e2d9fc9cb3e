package daemon

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
)

// status assembles the status of the box from the store and, in the daemon,
// the recorder's live view of each camera, with every alert in force.
func (s *service) status() (api.Status, error) {
	cfg := s.cfg
	now := time.Now().UTC()
	out := api.Status{Box: cfg.BoxID, Site: cfg.Site, Now: now, Cameras: []api.CameraStatus{}, Alerts: []string{}}
	if s.key != nil {
		out.Key = s.key.Fingerprint()
	}
	var live []recorder.Health
	if s.rec != nil {
		live = s.rec.Health()
	}
	if len(cfg.Cameras) == 0 {
		out.Alerts = append(out.Alerts, "no cameras are configured: add a [[camera]] to the configuration and restart the recorder (systemctl restart cctv)")
	}
	states, err := s.st.CameraStates()
	if err != nil {
		return out, fmt.Errorf("read camera states: %w", err)
	}
	cams, err := s.cameras("")
	if err != nil {
		return out, err
	}
	y, m, d := now.In(cfg.Location).Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, cfg.Location)
	for _, cam := range cams {
		cs := api.CameraStatus{Camera: cam, State: "unknown"}
		if i := slices.IndexFunc(states, func(st store.CameraState) bool { return st.Camera == cam }); i >= 0 {
			st := states[i]
			cs.State, cs.Reason, cs.Since, cs.Codec, cs.DownSince = st.State, st.Reason, st.Since, st.Codec, st.DownSince
		}
		if i := slices.IndexFunc(live, func(h recorder.Health) bool { return h.Camera == cam }); i >= 0 {
			h := live[i]
			cs.State, cs.Reason, cs.Since, cs.Codec, cs.DownSince = h.State, h.Reason, h.Since, h.Codec, h.DownSince
			cs.LastFrame = h.LastFrame
			cs.LostPackets, cs.DroppedFrames, cs.InputErrors = h.LostPackets, h.Dropped, h.InputErrors
			cs.Transport = h.Transport
			if !h.LastJump.IsZero() && now.Sub(h.LastJump) < s.alerts.ClockJumpFor {
				out.Alerts = append(out.Alerts, fmt.Sprintf("the box clock jumped at %s (seen by camera %s); check the box's time source", s.localTime(h.LastJump), cam))
			}
			if !h.LastFrame.IsZero() {
				cs.LastFrameAgeS = float64(int(now.Sub(h.LastFrame).Seconds()*10)) / 10
			}
		}
		oldest, newest, n, err := s.st.Span(cam)
		if err != nil {
			return out, fmt.Errorf("read footage span: %w", err)
		}
		cs.Oldest, cs.Newest, cs.Segments = oldest, newest, n
		if n > 0 {
			segs, err := s.st.Segments(cam, newest.Add(-time.Nanosecond), newest)
			if err == nil && len(segs) > 0 {
				seg := segs[len(segs)-1]
				if dur := seg.End.Sub(seg.Start).Seconds(); dur > 0 {
					cs.BitrateKbps = int64(float64(seg.Bytes) * 8 / dur / 1000)
					cs.FPS = float64(int(float64(seg.Frames)/dur*10+0.5)) / 10
				}
				if off := seg.ClockOffsetMS; (seg.CameraClock || seg.TimeSource == "rtcp") && (off > 2000 || off < -2000) {
					out.Alerts = append(out.Alerts, cameraClockAlert(cam, seg.Start, off))
				}
				if slices.Contains(seg.Flags, "time-untrusted") {
					out.Alerts = append(out.Alerts, fmt.Sprintf("camera %s: footage marked time-untrusted: the box clock was before the build date", cam))
				}
			}
		}
		gaps, err := s.st.Gaps(cam, midnight, now)
		if err != nil {
			return out, fmt.Errorf("read gaps: %w", err)
		}
		cs.GapsToday = len(gaps)
		if alert, ok := cameraDownAlert(cs, now, s.alerts.CameraDownAfter, s.cfg.Location); ok {
			out.Alerts = append(out.Alerts, alert)
		}
		out.Cameras = append(out.Cameras, cs)
	}
	out.Disk.DataDir = cfg.DataDir
	if u, err := s.diskUse(); err == nil {
		out.Disk.FreeBytes, out.Disk.TotalBytes = u.free, u.total
		out.Disk.IndexBytes, out.Disk.IndexBudgetBytes = u.index, u.budget
		if u.total > 0 && float64(u.free)/float64(u.total) < cfg.MinFree.Fraction() {
			out.Alerts = append(out.Alerts, fmt.Sprintf("disk pressure: %.1f%% free on %s, below min_free %s", 100*float64(u.free)/float64(u.total), cfg.DataDir, cfg.MinFree))
		}
		if u.budget > 0 && u.index >= u.budget*9/10 {
			out.Alerts = append(out.Alerts, fmt.Sprintf("the recording index is %s, %.0f%% of its budget (index_budget %s of the data disk); at the budget staff requests are refused (recording goes on)",
				mb(u.index), 100*float64(u.index)/float64(u.budget), cfg.IndexBudget))
		}
	}
	if r := s.st.Reserve(); !r.Held && !r.ReleasedAt.IsZero() {
		out.Alerts = append(out.Alerts, fmt.Sprintf("the data disk filled to the last block at %s: its reserve was released so that %s could delete footage; it is made again once there is room above min_free (see cctv audit list --action reserve.)",
			s.localTime(r.ReleasedAt), r.ReleasedFor))
	}
	if err := s.retentionStatus(&out, now); err != nil {
		return out, err
	}
	sarAlerts, err := s.sarAlerts(now)
	if err != nil {
		return out, err
	}
	out.Alerts = append(out.Alerts, sarAlerts...)
	if s.recovered > 0 && time.Now().Sub(s.started) < time.Hour {
		out.Alerts = append(out.Alerts, fmt.Sprintf("the recorder recovered %d item(s) at its last start (a crash or power cut?): see cctv audit list --action recovery.", s.recovered))
	}
	if s.auditAlert != "" {
		out.Alerts = append(out.Alerts, s.auditAlert)
	} else if s.st.AuditBroken() {
		out.Alerts = append(out.Alerts, "audit log does not match its signed head: run cctv audit verify")
	}
	return out, nil
}

// retentionStatus fills in retention achieved against the target, the disk's
// capacity at the current rate, holds, and their alerts.
func (s *service) retentionStatus(out *api.Status, now time.Time) error {
	const day = 24 * time.Hour
	cfg := s.cfg
	r := &out.Retention
	r.TargetDays = cfg.Retention.Duration.Hours() / 24
	var oldest time.Time
	var rate float64 // bytes per second, all cameras, from each newest segment
	for _, c := range out.Cameras {
		if c.Segments > 0 {
			if oldest.IsZero() || c.Oldest.Before(oldest) {
				oldest = c.Oldest
			}
			rate += float64(c.BitrateKbps) * 1000 / 8
			continue
		}
		// Every segment deleted (disk pressure, say): the camera still
		// records at the rate of what was deleted last.
		ds, err := s.st.Disposals(c.Camera, now.Add(-day), now)
		if err != nil {
			return fmt.Errorf("read disposals: %w", err)
		}
		if n := len(ds); n > 0 && ds[n-1].Seal != nil {
			if dur := ds[n-1].End.Sub(ds[n-1].Start).Seconds(); dur > 0 {
				rate += float64(ds[n-1].Seal.Seal.Bytes) / dur
			}
		}
	}
	lastPressure, err := s.st.LastPressure()
	if err != nil {
		return fmt.Errorf("read disk-pressure state: %w", err)
	}
	pressure := !lastPressure.IsZero() && now.Sub(lastPressure) < day
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
		out.Alerts = append(out.Alerts, fmt.Sprintf("retention shortfall: disk pressure deleted footage early (last at %s); %.1f of %.0f days kept", s.localTime(lastPressure), r.AchievedDays, r.TargetDays))
	}
	paused, why, since, err := s.st.DeletionPaused()
	if err != nil {
		return fmt.Errorf("read deletion state: %w", err)
	}
	r.DeletionPaused, r.PausedWhy = paused, why
	if paused {
		out.Alerts = append(out.Alerts, fmt.Sprintf("deletion paused since %s: %s; a supervisor confirms the clock with: cctv time confirm", s.localTime(since), why))
	}
	holds, err := s.holds(false)
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

// cameraDownAlert is the alert for a camera that is not recording: once its
// outage (counted from its start, whatever the retry schedule) is older
// than after, or at once for a fault that will not cure itself (a wrong
// password, an unreadable password_file).
func cameraDownAlert(cs api.CameraStatus, now time.Time, after time.Duration, loc *time.Location) (string, bool) {
	down := cs.Since
	if !cs.DownSince.IsZero() {
		down = cs.DownSince
	}
	config := cs.State == "error" && (strings.Contains(cs.Reason, "wrong user name or password") || strings.Contains(cs.Reason, "password_file"))
	out := cs.State == "down" || cs.State == "error" || !cs.DownSince.IsZero() && cs.State != "recording"
	if !config && !(out && now.Sub(down) > after) {
		return "", false
	}
	return fmt.Sprintf("camera %s %s since %s: %s", cs.Camera, cs.State, down.In(loc).Format("2006-01-02 15:04:05 MST"), cs.Reason), true
}

// cameraClockAlert says how far a camera's clock is off the box's (footage
// is filed by the box's clock; the camera's matters for the time it prints
// into its pictures).
func cameraClockAlert(cam string, at time.Time, offMS int64) string {
	if camera := at.Add(time.Duration(offMS) * time.Millisecond); camera.Year() < 2000 {
		return fmt.Sprintf("camera %s: its clock is not set (it reads %s); footage is filed by the box's clock; set the camera's time (NTP)",
			cam, camera.UTC().Format("2006-01-02 15:04 UTC"))
	}
	d := (time.Duration(offMS) * time.Millisecond).Round(100 * time.Millisecond)
	dir := "ahead of"
	if d < 0 {
		dir, d = "behind", -d
	}
	return fmt.Sprintf("camera %s: its clock is %s %s the box's; footage is filed by the box's clock; check the camera's time settings (NTP)", cam, d, dir)
}
