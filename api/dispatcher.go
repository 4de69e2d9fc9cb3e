package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Command is one thing the daemon does for the CLI.
type Command struct {
	Name string
	Role Role // the least role allowed to run it
	// Handle runs the command for caller c. Its result is encoded as the
	// response's data; nil means no data. A result that implements Streamer
	// is followed by its stream. An *Error (or an error wrapping one)
	// reaches the client as it is; any other error becomes code 1 with its
	// message. ctx ends at the request timeout, when the client hangs up,
	// or when the server shuts down.
	Handle func(ctx context.Context, c Caller, args json.RawMessage) (any, error)
	// Validate, if set, checks args strictly (known fields, right types)
	// before the request is audited or run: args it refuses are never
	// audited in full, only as a short "bad request" entry.
	Validate func(args json.RawMessage) error
}

// Limits on what a request may carry, so that a request can never make the
// audit log (and the index that holds it) grow by more than a few KiB.
const (
	// MaxArgs is the largest args object, in bytes of JSON.
	MaxArgs = 4 << 10
	// MaxText is the largest string anywhere in args, in bytes.
	MaxText = 1 << 10
)

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	// Groups name the Unix group of each role, for refusals.
	Groups Groups
	// Commands are what the dispatcher answers to; names must be unique.
	Commands []Command
	// Audit is called for every request before the response is built:
	// allowed ones with their result ("ok" or "error: …"), refused ones
	// ("refused: needs <role> (group <g>)", "refused: cannot identify the
	// caller"), unknown commands and malformed requests ("bad request: …").
	// If it returns an error, the caller gets "the audit log cannot be
	// written" (code 1) instead of the answer. Required.
	Audit func(c Caller, command string, args json.RawMessage, result string) error
	// Logger receives events; default: discard.
	Logger *slog.Logger
	// RequestTimeout bounds one command; default 5 min (exports are long).
	RequestTimeout time.Duration
	// Admit, if set, is asked before an allowed command runs; a non-nil
	// *Error refuses it (the index is over its budget, say).
	Admit func(c Caller, command string) *Error
	// RefusalBurst is how many refused or failed requests of one uid are
	// audited one by one in each RefusalWindow; beyond it they are counted
	// and audited as one summary entry per window (see FlushSuppressed).
	// Defaults 20 and 1 min.
	RefusalBurst  int
	RefusalWindow time.Duration
}

// Dispatcher is the one place where a request meets the rules: it parses
// the request, checks the caller's role, words refusals, runs the command
// and audits the outcome. The socket server and the CLI's daemon-down path
// both answer through a Dispatcher, so a request is refused with the same
// words and audited the same way whichever way it came.
type Dispatcher struct {
	opts  DispatcherOptions
	log   *slog.Logger
	cmds  map[string]Command
	names []string // sorted command names, for "unknown command" hints
	limit refusalLimiter
}

// NewDispatcher checks opts and returns a dispatcher.
func NewDispatcher(opts DispatcherOptions) (*Dispatcher, error) {
	if opts.Audit == nil {
		return nil, errors.New("new dispatcher: no audit function")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = defaultRequestTimeout
	}
	if opts.RefusalBurst <= 0 {
		opts.RefusalBurst = 20
	}
	if opts.RefusalWindow <= 0 {
		opts.RefusalWindow = time.Minute
	}
	d := &Dispatcher{opts: opts, log: opts.Logger, cmds: make(map[string]Command, len(opts.Commands))}
	d.limit.init(opts.RefusalBurst, opts.RefusalWindow)
	for _, c := range opts.Commands {
		switch {
		case c.Name == "":
			return nil, errors.New("new dispatcher: a command has no name")
		case c.Handle == nil:
			return nil, fmt.Errorf("new dispatcher: command %q has no handler", c.Name)
		case c.Role < RoleNone || c.Role > RoleSupervisor:
			return nil, fmt.Errorf("new dispatcher: command %q: invalid role %d", c.Name, int(c.Role))
		}
		if _, dup := d.cmds[c.Name]; dup {
			return nil, fmt.Errorf("new dispatcher: command %q defined twice", c.Name)
		}
		d.cmds[c.Name] = c
		d.names = append(d.names, c.Name)
	}
	slices.Sort(d.names)
	return d, nil
}

// Do answers one request line (a JSON Request, without its newline) from
// caller c: it parses, checks identity and role, runs the command, audits
// and returns the response. It never panics and always returns a valid
// Response; the response's Stream, if any, must be written or closed by the
// caller.
func (d *Dispatcher) Do(ctx context.Context, c Caller, line []byte) (resp Response) {
	defer func() {
		if r := recover(); r != nil { // a bug here, not in a command
			d.log.Error("api request panicked", "panic", r, "stack", string(debug.Stack()))
			resp = Response{Error: internalError()}
		}
	}()
	req, perr := parseRequest(line)
	name := printable(req.Command, 128)
	if c.UID < 0 {
		return d.finish(c, name, req.Args, "refused: cannot identify the caller", nil, &Error{
			Code: CodeFailed,
			Msg:  "cannot identify the caller",
			Hints: []string{
				"the daemon could not read who you are from the system; its log says why: journalctl -u cctv",
			},
		})
	}
	if perr != nil {
		msg := "bad request: " + printable(perr.Error(), 200)
		return d.finish(c, name, nil, msg, nil, &Error{Code: CodeBadInput, Msg: msg})
	}
	cmd, ok := d.cmds[req.Command]
	if !ok {
		return d.finish(c, name, req.Args, "bad request: unknown command", nil, &Error{
			Code:  CodeBadInput,
			Msg:   fmt.Sprintf("unknown command %q", name),
			Hints: []string{"the daemon knows: " + strings.Join(d.names, ", ")},
		})
	}
	if n, sum, big := oversized(req.Args); big {
		what := fmt.Sprintf("request arguments too large: %d bytes (at most %d, and %d per text)", n, MaxArgs, MaxText)
		args, _ := json.Marshal(map[string]any{"bytes": n, "sha256": sum})
		return d.finish(c, cmd.Name, args, "refused: "+what, nil, &Error{Code: CodeBadInput, Msg: what,
			Hints: []string{"shorten the text you gave (case, reason, recipient, notes)"}})
	}
	if c.Role < cmd.Role {
		e, result := d.refusal(c, cmd)
		return d.finish(c, cmd.Name, req.Args, result, nil, e)
	}
	if cmd.Validate != nil {
		if err := cmd.Validate(req.Args); err != nil {
			msg := "bad request: " + printable(err.Error(), 200)
			return d.finish(c, cmd.Name, nil, msg, nil, &Error{Code: CodeBadInput, Msg: msg})
		}
	}
	if d.opts.Admit != nil {
		if e := d.opts.Admit(c, cmd.Name); e != nil {
			return d.finish(c, cmd.Name, req.Args, "refused: "+e.Msg, nil, e)
		}
	}
	data, streamer, e := d.run(ctx, c, cmd, req.Args)
	result := "ok"
	if e != nil {
		result = "error: " + e.Msg
		if e == errInternal {
			result = "error: internal"
			e = internalError()
		}
	}
	resp = d.finish(c, cmd.Name, req.Args, result, data, e)
	if resp.OK {
		resp.stream = streamer
	} else if streamer != nil {
		_ = streamer.Close() // nothing will be sent; release what it holds
	}
	return resp
}

// Reject answers a request that could not even be read (too large, or not
// complete in time): it is audited as a bad request and refused with what.
func (d *Dispatcher) Reject(c Caller, what string) Response {
	return d.finish(c, "", nil, "bad request: "+what, nil, &Error{Code: CodeBadInput, Msg: what})
}

// Refuse answers a request the server turned away before running it (too
// many at once): it is audited as a refusal, rate-limited like any.
func (d *Dispatcher) Refuse(c Caller, e *Error) Response {
	return d.finish(c, "", nil, "refused: "+e.Msg, nil, e)
}

// refusal explains that c may not run cmd, and what to do.
func (d *Dispatcher) refusal(c Caller, cmd Command) (*Error, string) {
	group := d.opts.Groups.group(cmd.Role)
	if group == "" {
		return &Error{
			Code:  CodeFailed,
			Msg:   fmt.Sprintf("%q needs the %s role, and no group grants it", cmd.Name, cmd.Role),
			Hints: []string{fmt.Sprintf("set access.%s in the config to a Unix group, or run it as root", cmd.Role)},
		}, fmt.Sprintf("refused: needs %s (no group)", cmd.Role)
	}
	return &Error{
		Code: CodeFailed,
		Msg:  fmt.Sprintf("%q needs the %s role: add the user to group %s", cmd.Name, cmd.Role, group),
		Hints: []string{
			fmt.Sprintf("%s has the %s role", c.User, c.Role),
			fmt.Sprintf("a supervisor can run: usermod -a -G %s %s", group, c.User),
		},
	}, fmt.Sprintf("refused: needs %s (group %s)", cmd.Role, group)
}

// errInternal marks a command that panicked or whose result cannot be encoded.
var errInternal = &Error{Code: CodeFailed, Msg: "internal error"}

func internalError() *Error {
	return &Error{
		Code:  CodeFailed,
		Msg:   "internal error",
		Hints: []string{"this is a bug in cctv: report it with the daemon's log (journalctl -u cctv) and the output of: cctv version"},
	}
}

// run runs cmd under the request timeout, turning panics and errors into an
// *Error for the client.
func (d *Dispatcher) run(ctx context.Context, c Caller, cmd Command, args json.RawMessage) (data json.RawMessage, streamer Streamer, e *Error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.RequestTimeout)
	defer cancel()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				d.log.Error("command panicked", "command", cmd.Name, "uid", c.UID, "panic", r, "stack", string(debug.Stack()))
				e = errInternal
			}
		}()
		var out any
		out, err = cmd.Handle(ctx, c, args)
		if st, ok := out.(Streamer); ok && err == nil {
			streamer = st
		}
		if err == nil && out != nil {
			data, err = json.Marshal(out)
			if err != nil {
				d.log.Error("encode command result", "command", cmd.Name, "err", err)
				e = errInternal
			}
		}
	}()
	if e != nil {
		return nil, nil, e
	}
	if err == nil {
		if string(data) == "null" {
			data = nil
		}
		return data, streamer, nil
	}
	var pe *Error
	switch {
	case errors.As(err, &pe) && pe != nil:
		out := *pe
		if out.Code != CodeFailed && out.Code != CodeBadInput {
			out.Code = CodeFailed
		}
		if out.Msg == "" {
			out.Msg = cmd.Name + " failed"
		}
		return nil, nil, &out
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		cause := context.Cause(ctx)
		if errors.Is(cause, context.DeadlineExceeded) {
			return nil, nil, &Error{
				Code:  CodeFailed,
				Msg:   fmt.Sprintf("%q took longer than %s and was stopped", cmd.Name, d.opts.RequestTimeout),
				Hints: []string{"try a smaller request, e.g. a shorter time window"},
			}
		}
		return nil, nil, &Error{Code: CodeFailed, Msg: fmt.Sprintf("%q was stopped: %v", cmd.Name, cause)}
	}
	msg := err.Error()
	if msg == "" {
		msg = cmd.Name + " failed"
	}
	return nil, nil, &Error{Code: CodeFailed, Msg: msg}
}

// finish audits the request and builds the response: e (an error) or data.
// If the audit cannot be written the caller gets that error instead.
func (d *Dispatcher) finish(c Caller, command string, args json.RawMessage, result string, data json.RawMessage, e *Error) Response {
	if result != "ok" && !d.limit.allow(c, time.Now()) {
		// Over this uid's burst: counted for the summary entry instead.
		if e != nil {
			return Response{Error: e}
		}
		return Response{OK: true, Data: data}
	}
	if err := d.audit(c, command, args, result); err != nil {
		d.log.Error("audit log cannot be written; request refused", "command", command, "uid", c.UID, "result", result, "err", err)
		return Response{Error: &Error{
			Code: CodeFailed,
			Msg:  "the audit log cannot be written, so the request was refused",
			Hints: []string{
				"check the daemon's log: journalctl -u cctv",
				"check that the data disk has free space: cctv status",
			},
		}}
	}
	if e != nil {
		return Response{Error: e}
	}
	return Response{OK: true, Data: data}
}

// audit calls the Audit hook; a panic there counts as a failure.
func (d *Dispatcher) audit(c Caller, command string, args json.RawMessage, result string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("audit panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("audit panicked: %v", r)
		}
	}()
	return d.opts.Audit(c, command, args, result)
}

// oversized reports whether args break MaxArgs or MaxText, with their size
// and SHA-256 for the audit entry that refuses them.
func oversized(args json.RawMessage) (int, string, bool) {
	big := len(args) > MaxArgs
	if !big && len(args) > MaxText {
		big = longText(args)
	}
	if !big {
		return len(args), "", false
	}
	sum := sha256.Sum256(args)
	return len(args), hex.EncodeToString(sum[:]), true
}

// longText reports whether any string in the JSON value raw is longer than
// MaxText bytes (once decoded).
func longText(raw json.RawMessage) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && len(s) > MaxText {
			return true
		}
	}
}

// FlushSuppressed writes one summary audit entry for each uid whose
// refused or failed requests went over the burst and were held back since
// the last flush ("uid 1003 (bob): 2400 refused requests in 10s"). The
// daemon calls it every few seconds and at shutdown, so a flood costs the
// audit log one entry per uid per call at most.
func (d *Dispatcher) FlushSuppressed() {
	for _, s := range d.limit.due(time.Now()) {
		args, _ := json.Marshal(map[string]any{"suppressed": s.count, "window_s": int(s.window.Seconds())})
		result := fmt.Sprintf("summary: uid %d (%s): %d refused requests in %s not audited one by one", s.caller.UID, s.caller.User, s.count, s.window.Round(time.Second))
		if err := d.audit(s.caller, "ratelimit", args, result); err != nil {
			d.log.Error("audit the summary of refused requests", "uid", s.caller.UID, "err", err)
		}
	}
}

// refusalLimiter counts refused and failed requests per uid in windows.
type refusalLimiter struct {
	burst  int
	window time.Duration
	mu     sync.Mutex
	uids   map[int]*refusalWindow
}

type refusalWindow struct {
	caller     Caller
	start      time.Time
	n          int       // refusals in this window
	suppressed int       // beyond the burst, not audited yet
	since      time.Time // of the first suppressed one not yet summarised
}

// suppressedSummary is one uid's suppressed refusals of a window.
type suppressedSummary struct {
	caller Caller
	count  int
	window time.Duration
}

func (l *refusalLimiter) init(burst int, window time.Duration) {
	l.burst, l.window, l.uids = burst, window, map[int]*refusalWindow{}
}

// allow counts one refusal of c at now and reports whether it may be audited.
func (l *refusalLimiter) allow(c Caller, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.uids[c.UID]
	if w == nil || now.Sub(w.start) >= l.window {
		next := &refusalWindow{caller: c, start: now}
		if w != nil { // what is held back still goes into the next summary
			next.suppressed, next.since = w.suppressed, w.since
		}
		w = next
		l.uids[c.UID] = w
	}
	w.n++
	if w.n <= l.burst {
		return true
	}
	if w.suppressed == 0 {
		w.since = now
	}
	w.suppressed++
	return false
}

// due takes the summaries of what was held back since the last call, and
// forgets windows that have ended.
func (l *refusalLimiter) due(now time.Time) []suppressedSummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []suppressedSummary
	for uid, w := range l.uids {
		if w.suppressed > 0 {
			out = append(out, suppressedSummary{caller: w.caller, count: w.suppressed, window: max(now.Sub(w.since), time.Second)})
			w.suppressed = 0
		}
		if now.Sub(w.start) >= l.window {
			delete(l.uids, uid)
		}
	}
	return out
}
