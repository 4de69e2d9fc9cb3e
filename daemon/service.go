package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/recorder"
	"github.com/council/cctv/store"
)

// commandRoles is the least role of each command, whether it comes through
// the socket or, with the daemon down, goes straight to the store.
var commandRoles = map[string]api.Role{
	api.CmdStatus:      api.RoleViewer,
	api.CmdList:        api.RoleViewer,
	api.CmdAuditList:   api.RoleSupervisor,
	api.CmdAuditVerify: api.RoleSupervisor,
	api.CmdHoldList:    api.RoleViewer,
	api.CmdHoldAdd:     api.RoleSupervisor,
	api.CmdHoldRelease: api.RoleSupervisor,
	api.CmdRetention:   api.RoleViewer,
	api.CmdTimeConfirm: api.RoleSupervisor,
	api.CmdExport:      api.RoleOperator,
	api.CmdStill:       api.RoleOperator,
	api.CmdSheet:       api.RoleViewer,
	api.CmdPlay:        api.RoleViewer,
	api.CmdLive:        api.RoleViewer,
	api.CmdReview:      api.RoleViewer,
	api.CmdActivity:    api.RoleViewer,
	api.CmdMarkAdd:     api.RoleViewer,
	api.CmdMarkList:    api.RoleViewer,
	api.CmdSAROpen:     api.RoleSupervisor,
	api.CmdSARList:     api.RoleSupervisor,
	api.CmdSARClose:    api.RoleSupervisor,
	api.CmdSARPreview:  api.RoleSupervisor,
	api.CmdSARExport:   api.RoleSupervisor,
}

// AlertTiming says when passing conditions become alerts. Zero fields take
// the defaults noted.
type AlertTiming struct {
	// CameraDownAfter is how long a camera is down or in error before status
	// raises an alert (short drops are gaps, not alerts); default 1 min.
	CameraDownAfter time.Duration
	// ClockJumpFor is how long a clock jump stays an alert; default 1 h.
	ClockJumpFor time.Duration
}

func (a *AlertTiming) defaults() {
	if a.CameraDownAfter <= 0 {
		a.CameraDownAfter = time.Minute
	}
	if a.ClockJumpFor <= 0 {
		a.ClockJumpFor = time.Hour
	}
}

// service answers requests and records what the daemon does. It is the
// daemon's while it runs, or built for one request by Direct.
type service struct {
	cfg    *config.Config
	st     *store.Store
	key    *boxkey.Key
	rec    *recorder.Recorder // nil with the daemon down
	log    *slog.Logger
	self   api.Caller  // the daemon's own user, for its events
	clock  clock.Clock // the box's wall clock (shifted in tests)
	alerts AlertTiming
	direct bool // answering with the daemon down: audit entries say path=direct

	started    time.Time // when the daemon started
	recovered  int       // recovery actions at start
	auditAlert string    // set when the audit log failed verification at start
	kick       func()    // asks the housekeeper for a pass now; nil with the daemon down
}

// dispatcher builds the one path every request takes.
func (s *service) dispatcher() (*api.Dispatcher, error) {
	return api.NewDispatcher(api.DispatcherOptions{
		Groups:   groupsOf(s.cfg),
		Commands: s.commands(),
		Audit:    s.auditRequest,
		Admit:    s.admit,
		Logger:   s.log,
	})
}

func groupsOf(cfg *config.Config) api.Groups {
	return api.Groups{Viewer: cfg.Access.Viewer, Operator: cfg.Access.Operator, Supervisor: cfg.Access.Supervisor}
}

// auditRequest records one request in the audit log (and the journal).
func (s *service) auditRequest(c api.Caller, command string, args json.RawMessage, result string) error {
	params := auditParams(args)
	if s.direct {
		params["path"] = "direct"
	}
	e, err := s.st.Audit(store.AuditEntry{User: c.User, UID: c.UID, Action: "request." + command, Params: params, Result: result})
	if errors.Is(err, store.ErrAuditCorrupt) && command == api.CmdAuditVerify {
		// Verifying is how a supervisor investigates a tampered log: it must
		// still answer, though its own request cannot be appended.
		s.log.Error("ALERT: audit log tampered with; audit verify answered unaudited", "user", c.User, "uid", c.UID)
		return nil
	}
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if !strings.HasPrefix(result, "ok") {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "audit", "seq", e.Seq, "user", e.User, "uid", e.UID, "action", e.Action, "result", e.Result)
	return nil
}

// auditParams flattens a request's arguments for the audit log.
func auditParams(raw json.RawMessage) map[string]string {
	out := map[string]string{}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		if len(raw) > 0 && string(raw) != "null" {
			out["args"] = string(raw)
		}
		return out
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out[k] = fmt.Sprint(m[k])
	}
	return out
}

// event records something the daemon itself did.
func (s *service) event(action string, params map[string]string, result string) {
	e, err := s.st.Audit(store.AuditEntry{User: s.self.User, UID: s.self.UID, Action: action, Params: params, Result: result})
	if err != nil {
		s.log.Error("ALERT: cannot write the audit log", "action", action, "err", err)
		return
	}
	s.log.Info("audit", "seq", e.Seq, "action", e.Action, "result", e.Result)
}

// recorderEvent takes the recorder's events: a full disk asks for deletion
// at once; anything else (a clock jump) is audited.
func (s *service) recorderEvent(action string, params map[string]string) {
	if action == "disk.full" {
		if s.kick != nil {
			s.kick()
		}
		return
	}
	s.event(action, params, "ok")
}

// command makes the api.Command name whose arguments decode strictly (known
// fields only) into A, validated before the request is audited.
func command[A any](name string, fn func(ctx context.Context, c api.Caller, a A) (any, error)) api.Command {
	decode := func(raw json.RawMessage) (A, error) {
		var a A
		if len(raw) == 0 || string(raw) == "null" {
			return a, nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			return a, fmt.Errorf("bad %s arguments: %w", name, err)
		}
		if dec.More() {
			return a, fmt.Errorf("bad %s arguments: data after the arguments", name)
		}
		return a, nil
	}
	return api.Command{
		Name: name,
		Role: commandRoles[name],
		Validate: func(raw json.RawMessage) error {
			_, err := decode(raw)
			return err
		},
		Handle: func(ctx context.Context, c api.Caller, raw json.RawMessage) (any, error) {
			a, err := decode(raw)
			if err != nil {
				return nil, badInput(err.Error())
			}
			return fn(ctx, c, a)
		},
	}
}

// none is the argument type of commands that take none.
type none struct{}

func (s *service) commands() []api.Command {
	return []api.Command{
		command(api.CmdStatus, func(ctx context.Context, c api.Caller, _ none) (any, error) {
			return s.status()
		}),
		command(api.CmdList, func(ctx context.Context, c api.Caller, a api.ListRequest) (any, error) {
			return s.list(a)
		}),
		command(api.CmdAuditList, func(ctx context.Context, c api.Caller, f store.AuditFilter) (any, error) {
			return s.st.AuditEntries(f)
		}),
		command(api.CmdAuditVerify, func(ctx context.Context, c api.Caller, _ none) (any, error) {
			return s.verifyAudit()
		}),
		command(api.CmdRetention, func(ctx context.Context, c api.Caller, _ none) (any, error) {
			return s.planRetention(time.Now())
		}),
		command(api.CmdTimeConfirm, func(ctx context.Context, c api.Caller, _ none) (any, error) {
			return nil, s.st.ConfirmTime(actorOf(c))
		}),
		command(api.CmdHoldAdd, func(ctx context.Context, c api.Caller, a api.HoldAddRequest) (any, error) {
			h, err := s.st.AddHold(store.Hold{Camera: a.Camera, From: a.From, To: a.To, Case: a.Case, Reason: a.Reason, Review: a.Review}, actorOf(c))
			return holdOut(h, time.Now()), s.holdError(err)
		}),
		command(api.CmdHoldList, func(ctx context.Context, c api.Caller, all bool) (any, error) {
			return s.holds(all)
		}),
		command(api.CmdHoldRelease, func(ctx context.Context, c api.Caller, a api.HoldReleaseRequest) (any, error) {
			h, err := s.st.ReleaseHold(a.ID, a.Reason, actorOf(c), s.cfg.SingleSupervisorRelease)
			return holdOut(h, time.Now()), s.holdError(err)
		}),
		command(api.CmdSheet, s.sheet),
		command(api.CmdPlay, s.play),
		command(api.CmdLive, s.live),
		command(api.CmdReview, func(ctx context.Context, c api.Caller, a api.ReviewRequest) (any, error) {
			if a.Phase != "start" && a.Phase != "end" {
				return nil, badInput(`a review phase is "start" or "end"`)
			}
			return nil, s.auditView(c, "review", strings.Join(a.Cameras, ","), a.From, a.To, a.Reason,
				"phase", a.Phase, "watched", (time.Duration(a.WatchedS * float64(time.Second))).Round(time.Second).String())
		}),
		command(api.CmdActivity, s.activity),
		command(api.CmdMarkAdd, func(ctx context.Context, c api.Caller, a api.MarkAddRequest) (any, error) {
			if _, err := s.cameras(a.Camera); err != nil {
				return nil, err
			}
			m, err := s.st.AddMark(store.Mark{Camera: a.Camera, At: a.At, Note: a.Note}, actorOf(c))
			if errors.Is(err, store.ErrInvalidMark) {
				return nil, badInput("a bookmark needs a camera, an instant and a note", `add --note "…"`)
			}
			return markOut(m), err
		}),
		command(api.CmdMarkList, func(ctx context.Context, c api.Caller, a api.MarkListRequest) (any, error) {
			return s.marks(a)
		}),
		command(api.CmdSAROpen, func(ctx context.Context, c api.Caller, a api.SAROpenRequest) (any, error) {
			r, err := s.st.OpenSAR(store.SAR{Ref: a.Ref, Subject: a.Subject, Received: a.Received, Cameras: a.Cameras, From: a.From, To: a.To},
				actorOf(c), s.cfg.Location)
			return sarOut(r, time.Now()), s.sarError(err)
		}),
		command(api.CmdSARList, func(ctx context.Context, c api.Caller, all bool) (any, error) {
			return s.sars(all)
		}),
		command(api.CmdSARClose, func(ctx context.Context, c api.Caller, a api.SARCloseRequest) (any, error) {
			r, err := s.st.CloseSAR(a.Ref, a.Outcome, actorOf(c), s.cfg.SingleSupervisorRelease)
			return sarOut(r, time.Now()), s.sarError(err)
		}),
		command(api.CmdExport, s.export),
		command(api.CmdSARPreview, s.sarPreview),
		command(api.CmdSARExport, s.sarExport),
		command(api.CmdStill, s.still),
	}
}

func actorOf(c api.Caller) store.Actor { return store.Actor{User: c.User, UID: c.UID} }

// localTime formats t in the site timezone with its abbreviation.
func (s *service) localTime(t time.Time) string {
	return t.In(s.cfg.Location).Format("2006-01-02 15:04:05 MST")
}

// cameras returns the one camera asked for, or every camera known to the
// configuration or the store.
func (s *service) cameras(id string) ([]string, error) {
	known := map[string]bool{}
	var all []string
	for _, cam := range s.cfg.Cameras {
		if !known[string(cam.ID)] {
			known[string(cam.ID)] = true
			all = append(all, string(cam.ID))
		}
	}
	stored, err := s.st.Cameras()
	if err != nil {
		return nil, failed("read cameras: " + err.Error())
	}
	for _, id := range stored {
		if !known[id] {
			known[id] = true
			all = append(all, id)
		}
	}
	if id == "" {
		return all, nil
	}
	if !known[id] {
		return nil, badInput(fmt.Sprintf("no camera %q", id), "cameras: "+strings.Join(all, ", "))
	}
	return []string{id}, nil
}
