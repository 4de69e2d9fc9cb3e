package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
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

// errDaemonDown is returned (wrapped in a userError) when nobody answers on
// the socket.
var errDaemonDown = api.ErrDaemonDown

// commandRoles is the least role of each request, whether it goes through the
// daemon or, with the daemon down, straight to the store.
var commandRoles = map[string]api.Role{
	"status":       api.RoleViewer,
	"list":         api.RoleViewer,
	"audit.list":   api.RoleSupervisor,
	"audit.verify": api.RoleSupervisor,
	"hold.list":    api.RoleViewer,
	"hold.add":     api.RoleSupervisor,
	"hold.release": api.RoleSupervisor,
	"retention":    api.RoleViewer,
	"time.confirm": api.RoleSupervisor,
	"export":       api.RoleOperator,
	"still":        api.RoleOperator,
}

func groupsOf(cfg *config.Config) api.Groups {
	return api.Groups{Viewer: cfg.Access.Viewer, Operator: cfg.Access.Operator, Supervisor: cfg.Access.Supervisor}
}

// callDaemon sends one request to the daemon and turns its refusals into
// errors for the person at the terminal.
func callDaemon(ctx context.Context, cfg *config.Config, command string, args, out any) error {
	return callDaemonStream(ctx, cfg, command, args, out, nil)
}

// callDaemonStream is callDaemon for answers followed by a byte stream,
// which body reads.
func callDaemonStream(ctx context.Context, cfg *config.Config, command string, args, out any, body func(io.Reader) error) error {
	err := api.CallStream(ctx, cfg.Socket, command, args, out, body)
	var ae *api.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, api.ErrDaemonDown):
		return failed(err, "the cctv daemon is not running (nothing answers on "+cfg.Socket+")",
			"start it: systemctl start cctv",
			"see why it stopped: journalctl -u cctv")
	case errors.As(err, &ae):
		return &userError{code: ae.Code, msg: ae.Msg, hints: ae.Hints, err: err}
	default:
		return failed(err, "ask the daemon: "+err.Error())
	}
}

// direct runs a request against the store itself because the daemon is down.
// The caller's role is checked the same way and the request is audited the
// same way; a caller who cannot write the audit log (it needs the index and
// the signing key) is refused rather than served unaudited.
func direct(ctx context.Context, cfg *config.Config, command string, args any, fn func(*store.Store) error) error {
	return directAs(ctx, cfg, command, args, func(st *store.Store, _ api.Caller) error { return fn(st) })
}

// directAs is direct for requests that act in the caller's name.
func directAs(ctx context.Context, cfg *config.Config, command string, args any, fn func(*store.Store, api.Caller) error) error {
	caller, err := api.CurrentCaller(groupsOf(cfg))
	if err != nil {
		return failed(err, "cannot identify you: "+err.Error())
	}
	need := commandRoles[command]
	key, kerr := boxkey.Load(cfg.KeyFile)
	if kerr != nil {
		return failed(kerr, "the cctv daemon is not running, and reading the store directly needs access to the signing key for the audit log",
			"start the daemon: systemctl start cctv",
			"or run this as the cctv service user or root")
	}
	st, err := openAuditedStore(cfg, key, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	params := auditParams(args)
	params["path"] = "direct"
	if caller.Role < need {
		msg := refusal(command, need, cfg)
		if _, aerr := st.Audit(store.AuditEntry{User: caller.User, UID: caller.UID, Action: "request." + command, Params: params, Result: "refused: " + msg}); aerr != nil {
			return failed(aerr, "the audit log cannot be written: "+aerr.Error())
		}
		return failed(nil, msg, "ask a supervisor to add you to group "+groupFor(need, cfg))
	}
	result := "ok"
	ferr := fn(st, caller)
	if ferr != nil {
		result = "error: " + ferr.Error()
	}
	if _, aerr := st.Audit(store.AuditEntry{User: caller.User, UID: caller.UID, Action: "request." + command, Params: params, Result: result}); aerr != nil {
		// Verifying is how a tampered log is investigated: it still answers.
		if !(errors.Is(aerr, store.ErrAuditCorrupt) && command == "audit.verify") {
			return failed(aerr, "the audit log cannot be written, so the request is refused: "+aerr.Error())
		}
	}
	return ferr
}

// openAuditedStore opens the store read-write with everything needed to
// seal segments and sign the audit log.
func openAuditedStore(cfg *config.Config, key *boxkey.Key, log *slog.Logger) (*store.Store, error) {
	ns, err := key.NoteSigner(cfg.BoxID)
	if err != nil {
		return nil, failed(err, "prepare the audit signer: "+err.Error())
	}
	return openStoreWith(cfg, store.Options{BoxID: cfg.BoxID, Signer: key, NoteSigner: ns, Logger: log})
}

func refusal(command string, need api.Role, cfg *config.Config) string {
	return fmt.Sprintf("%q needs the %s role: you are not in group %s", command, need, groupFor(need, cfg))
}

func groupFor(r api.Role, cfg *config.Config) string {
	switch r {
	case api.RoleViewer:
		return cfg.Access.Viewer
	case api.RoleOperator:
		return cfg.Access.Operator
	default:
		return cfg.Access.Supervisor
	}
}

// auditParams flattens a request's arguments for the audit log.
func auditParams(args any) map[string]string {
	out := map[string]string{}
	if args == nil {
		return out
	}
	var raw []byte
	switch a := args.(type) {
	case json.RawMessage:
		raw = a
	default:
		b, err := json.Marshal(args)
		if err != nil {
			return out
		}
		raw = b
	}
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

// service serves the CLI on the Unix socket while the recorder runs.
type service struct {
	// auditAlert is set when the audit log failed verification at start.
	auditAlert string

	clock clock.Clock // the box's wall clock (shifted in tests)

	started   time.Time // when the daemon started
	recovered int       // recovery actions at start

	cfg  *config.Config
	st   *store.Store
	key  *boxkey.Key
	rec  *recorder.Recorder
	log  *slog.Logger
	self api.Caller
}

// serve runs the socket server until ctx ends.
func (d *service) serve(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(d.cfg.Socket), 0o755); err != nil {
		return fmt.Errorf("create socket directory: %w", err)
	}
	srv, err := api.NewServer(api.ServerOptions{
		Path:     d.cfg.Socket,
		Group:    d.cfg.Access.Viewer,
		Groups:   groupsOf(d.cfg),
		Commands: d.commands(),
		Audit:    d.audit,
		Logger:   d.log,
	})
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}

// audit records one request in the audit log (and the journal).
func (d *service) audit(c api.Caller, command string, args json.RawMessage, result string) error {
	e, err := d.st.Audit(store.AuditEntry{User: c.User, UID: c.UID, Action: "request." + command, Params: auditParams(args), Result: result})
	if errors.Is(err, store.ErrAuditCorrupt) && command == "audit.verify" {
		// Verifying is how a supervisor investigates a tampered log: it must
		// still answer, though its own request cannot be appended.
		d.log.Error("ALERT: audit log tampered with; audit verify answered unaudited", "user", c.User, "uid", c.UID)
		return nil
	}
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if !strings.HasPrefix(result, "ok") {
		level = slog.LevelWarn
	}
	d.log.Log(context.Background(), level, "audit", "seq", e.Seq, "user", e.User, "uid", e.UID, "action", e.Action, "result", e.Result)
	return nil
}

// event records something the daemon itself did.
func (d *service) event(action string, params map[string]string, result string) {
	e, err := d.st.Audit(store.AuditEntry{User: d.self.User, UID: d.self.UID, Action: action, Params: params, Result: result})
	if err != nil {
		d.log.Error("ALERT: cannot write the audit log", "action", action, "err", err)
		return
	}
	d.log.Info("audit", "seq", e.Seq, "action", e.Action, "result", e.Result)
}

func (d *service) commands() []api.Command {
	return append(append(d.holdCommands(), d.exportCommand(), d.stillCommand()), []api.Command{
		{Name: "status", Role: commandRoles["status"], Handle: func(ctx context.Context, c api.Caller, args json.RawMessage) (any, error) {
			out, err := buildStatus(d.st, d.cfg, d.rec.Health())
			out.Key = d.key.Fingerprint()
			if d.recovered > 0 && time.Since(d.started) < time.Hour {
				out.Alerts = append(out.Alerts, fmt.Sprintf("the recorder recovered %d item(s) at its last start (a crash or power cut?): see cctv audit list --action recovery.", d.recovered))
			}
			if d.auditAlert != "" {
				out.Alerts = append(out.Alerts, d.auditAlert)
			} else if d.st.AuditBroken() {
				out.Alerts = append(out.Alerts, "audit log does not match its signed head: run cctv audit verify")
			}
			return out, err
		}},
		{Name: "list", Role: commandRoles["list"], Handle: func(ctx context.Context, c api.Caller, args json.RawMessage) (any, error) {
			var a listArgs
			if err := json.Unmarshal(args, &a); err != nil {
				return nil, &api.Error{Code: exitUsage, Msg: "bad list request: " + err.Error()}
			}
			out, err := buildList(d.st, d.cfg, a)
			return out, toAPIError(err)
		}},
		{Name: "audit.list", Role: commandRoles["audit.list"], Handle: func(ctx context.Context, c api.Caller, args json.RawMessage) (any, error) {
			var f store.AuditFilter
			if len(args) > 0 {
				if err := json.Unmarshal(args, &f); err != nil {
					return nil, &api.Error{Code: exitUsage, Msg: "bad audit list request: " + err.Error()}
				}
			}
			return d.st.AuditEntries(f)
		}},
		{Name: "audit.verify", Role: commandRoles["audit.verify"], Handle: func(ctx context.Context, c api.Caller, args json.RawMessage) (any, error) {
			return verifyAudit(d.st, d.key, d.cfg)
		}},
		{Name: "retention", Role: commandRoles["retention"], Handle: func(ctx context.Context, c api.Caller, args json.RawMessage) (any, error) {
			return planRetention(d.st, d.cfg, time.Now())
		}},
		{Name: "time.confirm", Role: commandRoles["time.confirm"], Handle: func(ctx context.Context, c api.Caller, args json.RawMessage) (any, error) {
			return nil, d.st.ConfirmTime(actorOf(c))
		}},
	}...)
}

// toAPIError carries a userError over the socket unchanged.
func toAPIError(err error) error {
	var ue *userError
	if errors.As(err, &ue) {
		return &api.Error{Code: ue.code, Msg: ue.msg, Hints: ue.hints}
	}
	return err
}

// checkpointEvery is how often the daemon signs an audit checkpoint when
// entries were added (the store also signs one every 100 entries).
const checkpointEvery = time.Hour
