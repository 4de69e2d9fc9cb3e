package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/internal/residency"
	"github.com/council/cctv/internal/version"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
)

// Options configure Run. Config and Key are required.
type Options struct {
	Config     *config.Config
	ConfigPath string // named in the audit log's config.load entry
	Key        *boxkey.Key
	Logger     *slog.Logger // default slog.Default()
	// Notify sends systemd notifications; default sd_notify (a no-op outside
	// systemd).
	Notify func(state string)
	Clock  clock.Clock // the box's wall clock; default the system's
	Alerts AlertTiming
	// StopTimeout bounds the whole shutdown once ctx ends; default 8 s, so
	// that SIGTERM ends the process inside systemd's 10 s.
	StopTimeout time.Duration
	// StreamStall is how long an export stream may make no progress before
	// it is cut; default 30 s (api.ServerOptions).
	StreamStall time.Duration
	// Ready, if set, is called once recording has started (demo, tests).
	Ready func(*recorder.Recorder)
	// Recorder, if set, adjusts the recorder's options (tests).
	Recorder func(*recorder.Options)
	// RunRecorder, if set, replaces the recorder's Run (tests of the life
	// cycle with a recorder that ends early or hangs).
	RunRecorder func(ctx context.Context, rec *recorder.Recorder) error
}

// checkpointEvery is how often the daemon signs an audit checkpoint when
// entries were added (the store also signs one every 100 entries).
const checkpointEvery = time.Hour

// ErrStopTimeout is returned by Run when a part did not stop within
// StopTimeout; the store is then left open for the process exit to release.
var ErrStopTimeout = errors.New("the recorder did not stop in time")

// Run is the daemon: it opens and recovers the store, records every camera,
// serves the socket and keeps house until ctx ends, then stops everything in
// order (see the package doc) and returns. A recorder that ends with an
// error ends the daemon with that error (systemd restarts it); one that
// ends early without error (no cameras) leaves the daemon serving, with an
// alert.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Notify == nil {
		o.Notify = func(state string) { _, _ = sd.SdNotify(false, state) }
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 8 * time.Second
	}
	o.Alerts.defaults()
	cfg, log := o.Config, o.Logger

	st, err := openAuditedStore(cfg, o.Key, log)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return explained(err, failed("another cctv recorder is already running on "+cfg.DataDir,
				"check it with: systemctl status cctv", "find it with: pgrep -a cctv"))
		}
		if errors.Is(err, store.ErrNoMarker) {
			msg := "ALERT: refusing to record: data directory has no marker file (is the data disk mounted?)"
			if e := DataDiskError(cfg.DataDir); e != nil {
				msg = e.Msg
			}
			log.Error(msg, "data_dir", cfg.DataDir)
		}
		return err
	}
	s, rec, err := start(st, o)
	if err != nil {
		if cerr := st.Close(); cerr != nil {
			log.Error("close store", "err", cerr)
		}
		return err
	}
	err = s.serveUntil(ctx, rec, o)
	if errors.Is(err, ErrStopTimeout) {
		return err // something still uses the store: the exit releases it
	}
	if cerr := st.Close(); cerr != nil {
		log.Error("close store", "err", cerr)
	}
	return err
}

// start recovers the store and prepares the service and the recorder.
func start(st *store.Store, o Options) (*service, *recorder.Recorder, error) {
	cfg, log := o.Config, o.Logger
	known := make([]string, 0, len(cfg.Cameras))
	cams := make([]recorder.CameraConfig, 0, len(cfg.Cameras))
	for _, cam := range cfg.Cameras {
		known = append(known, string(cam.ID))
		rc := recorder.CameraConfig{ID: string(cam.ID), URL: cam.URL, Username: cam.Username, Transport: cam.Transport}
		if cam.PasswordFile != "" {
			// Read before every connection: one camera's unreadable secret
			// puts it in error naming the file, and a fixed file is picked
			// up without a restart.
			rc.PasswordFile = cam.PasswordFile
			rc.LoadPassword = func() (string, error) {
				pw, err := cam.Password()
				return pw.Reveal(), err
			}
		}
		cams = append(cams, rc)
	}
	// Packages staged for a CLI that never collected them are not kept.
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "exports")); err != nil {
		log.Warn("remove stale export staging", "err", err)
	}
	actions, err := st.Recover(known)
	if err != nil {
		return nil, nil, explained(err, failed("recover the store after the last run: "+err.Error(),
			"run: cctv check --deep, and keep the data directory as it is for inspection"))
	}
	for _, a := range actions {
		log.Warn("recovery", "action", a.Kind, "camera", a.Camera, "path", a.Path, "detail", a.Detail)
	}
	self, err := api.CurrentCaller(groupsOf(cfg))
	if err != nil {
		return nil, nil, explained(err, failed("identify the daemon's own user: "+err.Error()))
	}
	s := &service{cfg: cfg, st: st, key: o.Key, log: log, self: self, clock: o.Clock, alerts: o.Alerts,
		started: time.Now(), recovered: len(actions)}
	// Tampering while the box was off shows at start, as an alert.
	if rep, err := st.VerifyAudit(nil); err != nil {
		log.Error("verify the audit log", "err", err)
	} else if seq, bad := rep.FirstBad(); bad {
		s.auditAlert = fmt.Sprintf("audit log tampered with: first bad entry is seq %d (%d problem(s)); run cctv audit verify", seq, len(rep.Problems))
		log.Error("ALERT: "+s.auditAlert, "problems", len(rep.Problems))
	}
	s.event("config.load", map[string]string{"file": o.ConfigPath, "box": cfg.BoxID, "cameras": fmt.Sprint(len(cfg.Cameras))}, "ok")
	s.event("daemon.start", map[string]string{"version": version.Version, "key": o.Key.Fingerprint(), "recovery_actions": fmt.Sprint(len(actions))}, "ok")
	if len(cams) == 0 {
		log.Error("ALERT: no cameras are configured: nothing is recorded", "config", o.ConfigPath)
	}

	ropts := recorder.Options{
		Store:           st,
		Cameras:         cams,
		Segment:         cfg.Segment.Duration,
		SyncInterval:    cfg.SyncInterval.Duration,
		StallTimeout:    cfg.StallTimeout.Duration,
		BuildTime:       version.BuildTime(),
		AllowedNetworks: cfg.AllowedNetworks,
		Logger:          log,
		Clock:           o.Clock,
		Event:           s.recorderEvent,
	}
	if o.Recorder != nil {
		o.Recorder(&ropts)
	}
	rec, err := recorder.New(ropts)
	if err != nil {
		return nil, nil, explained(err, failed(err.Error()))
	}
	s.rec = rec
	if now := time.Now(); now.Before(ropts.BuildTime) {
		log.Error("ALERT: box clock is before the software's build date; footage is marked time-untrusted",
			"clock", now.UTC().Format(time.RFC3339), "build_date", version.BuildDate)
		s.event("clock.untrusted", map[string]string{"clock": now.UTC().Format(time.RFC3339), "build_date": version.BuildDate}, "alert")
	}
	return s, rec, nil
}

// serveUntil runs the recorder, the housekeeper, the reconcile and the
// socket until ctx ends (or the recorder fails), then stops them in order:
// cancel, wait for recorder, housekeeper and reconcile, stop the socket.
func (s *service) serveUntil(ctx context.Context, rec *recorder.Recorder, o Options) error {
	log, st := s.log, s.st
	runRec := o.RunRecorder
	if runRec == nil {
		runRec = func(ctx context.Context, r *recorder.Recorder) error { return r.Run(ctx) }
	}
	hk := newHousekeeper(s)
	s.kick = hk.kickNow

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var work sync.WaitGroup // recorder, housekeeper, reconcile
	recDone := make(chan error, 1)
	work.Go(func() { recDone <- runRec(runCtx, rec) })
	work.Go(func() { hk.run(runCtx) })
	// Start-up recovery covered what a crash can leave; the full comparison of
	// index and disk (a file deleted by hand from an old day, a stray file)
	// runs now, while recording.
	known := make([]string, 0, len(s.cfg.Cameras))
	for _, c := range s.cfg.Cameras {
		known = append(known, string(c.ID))
	}
	work.Go(func() {
		acts, err := st.Reconcile(known)
		if err != nil {
			log.Error("reconcile index and disk", "err", err)
		}
		for _, a := range acts {
			log.Warn("reconcile", "action", a.Kind, "camera", a.Camera, "path", a.Path, "detail", a.Detail)
		}
		// Start-up is over: hand back the pages of the binary and of the
		// FFmpeg libraries that loading and start-up touched and recording
		// does not (most of the process's RSS otherwise; issue 14).
		n, err := residency.DropCleanFilePages()
		if err != nil {
			log.Warn("release start-up pages of the binary and its libraries", "bytes", n, "err", err)
			return
		}
		log.Info("released start-up pages of the binary and its libraries", "bytes", n)
	})

	// The socket outlives the recorder: staff can ask until recording stopped.
	disp, err := s.dispatcher()
	if err != nil {
		cancel()
		work.Wait()
		return err
	}
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServe()
	serveDone := make(chan error, 1)
	listening := make(chan struct{})
	go func() { serveDone <- s.serve(serveCtx, disp, o.StreamStall, func() { close(listening) }) }()
	// READY means staff commands work: wait for the socket (or its failure,
	// which the loop below reports).
	select {
	case <-listening:
	case err := <-serveDone:
		serveDone <- err
	case <-time.After(10 * time.Second):
		log.Error("the local socket is not listening after 10 s; reporting ready for recording anyway")
	}

	log.Info("recorder started", "cameras", len(s.cfg.Cameras), "data_dir", s.cfg.DataDir, "version", version.Version)
	o.Notify(sd.SdNotifyReady)
	if o.Ready != nil {
		o.Ready(rec)
	}
	checkpoints := time.NewTicker(checkpointEvery)
	defer checkpoints.Stop()
	summaries := time.NewTicker(summaryEvery)
	defer summaries.Stop()
	lastCheckpoint, _ := st.AuditSize()
	watchdog := watchdogTicker()
	defer watchdog.Stop()
	wasWedged := false
	var runErr error
	serveWatch := serveDone // nil once reported
loop:
	for {
		select {
		case err := <-recDone:
			recDone = nil
			if err != nil {
				log.Error("ALERT: the recorder stopped: "+err.Error()+"; stopping so that systemd restarts it", "err", err)
				runErr = err
				break loop
			}
			log.Warn("the recorder has nothing to record; serving staff commands only")
		case <-ctx.Done():
			break loop
		case err := <-serveWatch:
			// Recording goes on; staff lose the socket until a restart.
			log.Error("ALERT: the local socket stopped; staff commands will fail until the recorder restarts", "err", err)
			s.event("socket.down", map[string]string{"err": fmt.Sprint(err)}, "alert")
			serveWatch = nil
			serveDone = nil
		case <-summaries.C:
			disp.FlushSuppressed()
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
				o.Notify(sd.SdNotifyWatchdog)
			} else if !wasWedged {
				log.Error("ALERT: camera loop wedged; withholding the watchdog so systemd restarts the recorder", "cameras", wedged)
			}
			wasWedged = len(wedged) > 0
		}
	}

	// The stop order: cancel; wait for recorder, housekeeper and reconcile;
	// stop the socket; the caller closes the store.
	o.Notify(sd.SdNotifyStopping)
	log.Info("recorder stopping: closing and sealing open segments")
	deadline := time.Now().Add(o.StopTimeout)
	cancel()
	stopped := make(chan struct{})
	go func() { work.Wait(); close(stopped) }()
	select {
	case <-stopped:
		log.Info("recorder stopped")
	case <-time.After(time.Until(deadline) - socketStopBudget):
		log.Error("ALERT: the recorder did not stop in time; exiting without waiting for it (recovery runs at the next start)")
		runErr = errors.Join(runErr, ErrStopTimeout)
	}
	stopServe()
	if serveDone != nil {
		select {
		case <-serveDone:
		case <-time.After(time.Until(deadline)):
			log.Error("the socket did not stop in time")
			runErr = errors.Join(runErr, ErrStopTimeout)
		}
	}
	if !errors.Is(runErr, ErrStopTimeout) {
		disp.FlushSuppressed()
		s.event("daemon.stop", nil, "ok")
	}
	return runErr
}

// socketStopBudget is the part of StopTimeout kept for the socket.
const socketStopBudget = 1500 * time.Millisecond

// summaryEvery is how often refusals held back by the rate limit are
// written as summary entries.
const summaryEvery = 10 * time.Second

// serve runs the socket server until ctx ends, calling listening once it
// accepts connections.
func (s *service) serve(ctx context.Context, disp *api.Dispatcher, stall time.Duration, listening func()) error {
	if err := os.MkdirAll(filepath.Dir(s.cfg.Socket), 0o755); err != nil {
		return fmt.Errorf("create socket directory: %w", err)
	}
	srv, err := api.NewServer(api.ServerOptions{
		Path:            s.cfg.Socket,
		Group:           s.cfg.Access.Viewer,
		Groups:          groupsOf(s.cfg),
		Dispatcher:      disp,
		Listening:       listening,
		StreamStall:     stall,
		Logger:          s.log,
		ShutdownTimeout: socketStopBudget / 3,
	})
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}

// watchdogTicker ticks at half the systemd watchdog interval, or never when
// the watchdog is off.
func watchdogTicker() *time.Ticker {
	d, err := sd.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		t := time.NewTicker(time.Hour)
		t.Stop()
		return t
	}
	return time.NewTicker(d / 2)
}
