package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/internal/version"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
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
			key, err := loadKey(cfg)
			if err != nil {
				return err
			}
			return record(c.Context, cfg, key, log, recordHooks{notify: sdNotify, configPath: c.String("config")})
		}),
	}
}

// recordHooks lets the demo and tests watch the daemon's life cycle.
type recordHooks struct {
	notify func(state string)           // systemd notifications
	ready  func(rec *recorder.Recorder) // called once recording has started
	opts   func(*recorder.Options)      // test overrides
	clock  clock.Clock                  // the box's wall clock; default the system's

	configPath string // for the audit log's config.load entry
}

func sdNotify(state string) {
	// Outside systemd NOTIFY_SOCKET is unset and this does nothing.
	_, _ = daemon.SdNotify(false, state)
}

// record runs the recorder until ctx ends: open and recover the store, start
// every camera, tell systemd it is ready, keep the watchdog fed while the
// camera loops are alive, and on shutdown seal every open segment.
func record(ctx context.Context, cfg *config.Config, key *boxkey.Key, log *slog.Logger, hooks recordHooks) error {
	if hooks.notify == nil {
		hooks.notify = func(string) {}
	}
	if hooks.clock == nil {
		hooks.clock = clock.Real{}
	}
	st, err := openAuditedStore(cfg, key, log)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return failed(err, "another cctv recorder is already running on "+cfg.DataDir,
				"check it with: systemctl status cctv", "find it with: pgrep -a cctv")
		}
		if errors.Is(err, store.ErrNoMarker) {
			log.Error("ALERT: refusing to record: data directory has no marker file (is the data disk mounted?)", "data_dir", cfg.DataDir)
		}
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			log.Error("close store", "err", cerr)
		}
	}()

	known := make([]string, 0, len(cfg.Cameras))
	cams := make([]recorder.CameraConfig, 0, len(cfg.Cameras))
	for _, cam := range cfg.Cameras {
		known = append(known, string(cam.ID))
		rc := recorder.CameraConfig{ID: string(cam.ID), URL: cam.URL, Username: cam.Username, Transport: cam.Transport}
		if cam.PasswordFile != "" {
			pw, err := cam.Password()
			if err != nil {
				// One camera's unreadable secret must not stop the others; it
				// will fail to authenticate and show as down with the reason.
				log.Error("read camera password", "camera", cam.ID, "err", err)
			}
			rc.Password = pw.Reveal()
		}
		cams = append(cams, rc)
	}

	// Packages staged for a CLI that never collected them are not kept.
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "exports")); err != nil {
		log.Warn("remove stale export staging", "err", err)
	}
	actions, err := st.Recover(known)
	if err != nil {
		return failed(err, "recover the store after the last run: "+err.Error(),
			"run: cctv check --deep, and keep the data directory as it is for inspection")
	}
	for _, a := range actions {
		log.Warn("recovery", "action", a.Kind, "camera", a.Camera, "path", a.Path, "detail", a.Detail)
	}

	self, err := api.CurrentCaller(groupsOf(cfg))
	if err != nil {
		return failed(err, "identify the daemon's own user: "+err.Error())
	}
	d := &service{cfg: cfg, st: st, key: key, log: log, self: self, clock: hooks.clock, started: time.Now(), recovered: len(actions)}
	// Tampering while the box was off shows at start, as an alert.
	if rep, err := st.VerifyAudit(nil); err != nil {
		log.Error("verify the audit log", "err", err)
	} else if seq, bad := rep.FirstBad(); bad {
		d.auditAlert = fmt.Sprintf("audit log tampered with: first bad entry is seq %d (%d problem(s)); run cctv audit verify", seq, len(rep.Problems))
		log.Error("ALERT: "+d.auditAlert, "problems", len(rep.Problems))
	}
	d.event("config.load", map[string]string{"file": hooks.configPath, "box": cfg.BoxID, "cameras": fmt.Sprint(len(cfg.Cameras))}, "ok")
	d.event("daemon.start", map[string]string{"version": version.Version, "key": key.Fingerprint(), "recovery_actions": fmt.Sprint(len(actions))}, "ok")

	opts := recorder.Options{
		Store:           st,
		Cameras:         cams,
		Segment:         cfg.Segment.Duration,
		SyncInterval:    cfg.SyncInterval.Duration,
		StallTimeout:    cfg.StallTimeout.Duration,
		BuildTime:       version.BuildTime(),
		AllowedNetworks: cfg.AllowedNetworks,
		Logger:          log,
		Clock:           hooks.clock,
	}
	hk := newHousekeeper(d)
	opts.Event = func(action string, params map[string]string) {
		if action == "disk.full" {
			hk.kickNow() // make room now rather than at the next interval
			return
		}
		d.event(action, params, "ok")
	}
	if hooks.opts != nil {
		hooks.opts(&opts)
	}
	rec, err := recorder.New(opts)
	if err != nil {
		return failed(err, err.Error())
	}

	d.rec = rec
	if now := time.Now(); now.Before(opts.BuildTime) {
		log.Error("ALERT: box clock is before the software's build date; footage is marked time-untrusted",
			"clock", now.UTC().Format(time.RFC3339), "build_date", version.BuildDate)
		d.event("clock.untrusted", map[string]string{"clock": now.UTC().Format(time.RFC3339), "build_date": version.BuildDate}, "alert")
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rec.Run(runCtx) }()
	hkDone := make(chan struct{})
	go func() {
		hk.run(runCtx)
		close(hkDone)
	}()
	defer func() { <-hkDone }()
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	var serveErr error
	serveDone := make(chan struct{})
	go func() {
		serveErr = d.serve(serveCtx)
		close(serveDone)
	}()
	defer func() {
		stopServe()
		<-serveDone
		d.event("daemon.stop", nil, "ok")
	}()
	serveWatch := serveDone // nil once reported
	checkpoints := time.NewTicker(checkpointEvery)
	defer checkpoints.Stop()
	lastCheckpoint, _ := st.AuditSize()

	log.Info("recorder started", "cameras", len(cams), "data_dir", cfg.DataDir, "version", version.Version)
	hooks.notify(daemon.SdNotifyReady)
	// Start-up recovery covered what a crash can leave; the full comparison of
	// index and disk (a file deleted by hand from an old day, a stray file)
	// runs now, while recording.
	reconciled := make(chan struct{})
	go func() {
		defer close(reconciled)
		acts, err := st.Reconcile(known)
		if err != nil {
			log.Error("reconcile index and disk", "err", err)
		}
		for _, a := range acts {
			log.Warn("reconcile", "action", a.Kind, "camera", a.Camera, "path", a.Path, "detail", a.Detail)
		}
	}()
	defer func() { <-reconciled }()
	if hooks.ready != nil {
		hooks.ready(rec)
	}
	watchdog := watchdogTicker()
	defer watchdog.Stop()
	wasWedged := false
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			hooks.notify(daemon.SdNotifyStopping)
			log.Info("recorder stopping: closing and sealing open segments")
			err := <-done
			log.Info("recorder stopped")
			return err
		case <-serveWatch:
			// Recording goes on; staff lose the socket until a restart.
			log.Error("ALERT: the local socket stopped; staff commands will fail until the recorder restarts", "err", serveErr)
			d.event("socket.down", map[string]string{"err": fmt.Sprint(serveErr)}, "alert")
			serveWatch = nil
		case <-checkpoints.C:
			if n, err := st.AuditSize(); err == nil && n != lastCheckpoint {
				if _, err := st.AuditCheckpoint(); err != nil {
					log.Error("sign audit checkpoint", "err", err)
				} else {
					lastCheckpoint = n
				}
			}
		case <-watchdog.C:
			wedged := rec.Wedged()
			if len(wedged) == 0 {
				hooks.notify(daemon.SdNotifyWatchdog)
			} else if !wasWedged {
				log.Error("ALERT: camera loop wedged; withholding the watchdog so systemd restarts the recorder", "cameras", wedged)
			}
			wasWedged = len(wedged) > 0
		}
	}
}

// watchdogTicker ticks at half the systemd watchdog interval, or never when
// the watchdog is off.
func watchdogTicker() *time.Ticker {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		t := time.NewTicker(time.Hour)
		t.Stop()
		return t
	}
	return time.NewTicker(d / 2)
}
