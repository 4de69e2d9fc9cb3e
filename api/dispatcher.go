package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
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
}

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
	d := &Dispatcher{opts: opts, log: opts.Logger, cmds: make(map[string]Command, len(opts.Commands))}
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
	if c.Role < cmd.Role {
		e, result := d.refusal(c, cmd)
		return d.finish(c, cmd.Name, req.Args, result, nil, e)
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
