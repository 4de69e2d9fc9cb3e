package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInUse is returned by Serve when another daemon is serving on the socket.
var ErrInUse = errors.New("another cctv daemon is serving on the socket")

// Command is one thing the daemon does for the CLI.
type Command struct {
	Name string
	Role Role // the least role allowed to run it
	// Handle runs the command for caller c. Its result is encoded as the
	// response's data; nil means no data. An *Error (or an error wrapping
	// one) reaches the client as it is; any other error becomes code 1 with
	// its message. ctx ends at the request timeout, when the client hangs up,
	// or when the server shuts down.
	Handle func(ctx context.Context, c Caller, args json.RawMessage) (any, error)
}

// ServerOptions configure a Server.
type ServerOptions struct {
	// Path is the socket path; its directory must exist. Required.
	Path string
	// Group owns the socket file (mode 0660); default Groups.Viewer, the
	// lowest role's group. If the group does not exist, a warning is logged
	// and the file keeps the daemon's group.
	Group  string
	Groups Groups
	// Commands are what the server answers to; names must be unique.
	Commands []Command
	// Audit is called for every request before the response is sent:
	// allowed ones with their result ("ok" or "error: …"), refused ones
	// ("refused: needs <role> (group <g>)", "refused: cannot identify the
	// caller"), unknown commands and malformed requests ("bad request: …").
	// If it returns an error, the caller gets "the audit log cannot be
	// written" (code 1) instead of the answer. Required.
	Audit func(c Caller, command string, args json.RawMessage, result string) error
	// Logger receives server events; default: discard.
	Logger *slog.Logger
	// MaxConcurrent bounds the requests handled at once; default 32. Further
	// connections wait in the listen backlog.
	MaxConcurrent int
	// RequestTimeout bounds one command; default 5 min (exports are long).
	RequestTimeout time.Duration
	// ShutdownTimeout is how long Serve waits for running commands once ctx
	// ends before cancelling them; default 5 s.
	ShutdownTimeout time.Duration
}

// Server answers CLI requests on a Unix socket. Create it with NewServer.
type Server struct {
	opts    ServerOptions
	log     *slog.Logger
	cmds    map[string]Command
	names   []string // sorted command names, for "unknown command" hints
	serving atomic.Bool

	// Seams for tests (see testOnlyIdentify); the real ones by default.
	peerCred    func(*net.UnixConn) (uid, gid, pid int, err error)
	lookup      func(uid, gid, pid int, g Groups) (Caller, error)
	readTimeout time.Duration // for the request line
	// testOnlyListening, if set, is called once the socket is ready.
	testOnlyListening func()
}

const (
	defaultMaxConcurrent   = 32
	defaultRequestTimeout  = 5 * time.Minute
	defaultShutdownTimeout = 5 * time.Second
	requestReadTimeout     = 10 * time.Second
	responseWriteTimeout   = 10 * time.Second
)

// NewServer checks opts and returns a server that is not yet listening.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Path == "" {
		return nil, errors.New("new api server: socket path is empty")
	}
	if opts.Audit == nil {
		return nil, errors.New("new api server: no audit function")
	}
	if opts.Group == "" {
		opts.Group = opts.Groups.Viewer
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = defaultMaxConcurrent
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = defaultRequestTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = defaultShutdownTimeout
	}
	s := &Server{
		opts:        opts,
		log:         opts.Logger,
		cmds:        make(map[string]Command, len(opts.Commands)),
		peerCred:    peerCred,
		lookup:      LookupCaller,
		readTimeout: requestReadTimeout,
	}
	for _, c := range opts.Commands {
		switch {
		case c.Name == "":
			return nil, errors.New("new api server: a command has no name")
		case c.Handle == nil:
			return nil, fmt.Errorf("new api server: command %q has no handler", c.Name)
		case c.Role < RoleNone || c.Role > RoleSupervisor:
			return nil, fmt.Errorf("new api server: command %q: invalid role %d", c.Name, int(c.Role))
		}
		if _, dup := s.cmds[c.Name]; dup {
			return nil, fmt.Errorf("new api server: command %q defined twice", c.Name)
		}
		s.cmds[c.Name] = c
		s.names = append(s.names, c.Name)
	}
	slices.Sort(s.names)
	return s, nil
}

// Serve listens on the socket and answers requests until ctx ends. Then it
// closes the listener, waits for running commands (at most ShutdownTimeout,
// then cancels them and waits one more second), removes the socket file and
// returns nil.
//
// A socket file that nobody answers on (left by a crash) is removed before
// listening; if a daemon answers on it, Serve returns ErrInUse. A lock file
// beside the socket (Path + ".lock", kept) stops two daemons starting at once
// from removing each other's socket. A path that exists and is not a socket
// is left alone and is an error.
func (s *Server) Serve(ctx context.Context) error {
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("serve: already serving")
	}
	defer s.serving.Store(false)
	path := s.opts.Path

	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if err := removeStale(ctx, path); err != nil {
		return err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // we remove it ourselves, after the last request
	defer func() {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot remove socket", "path", path, "err", err)
		}
	}()
	if err := s.setOwner(path); err != nil {
		_ = ln.Close() // error irrelevant: we are giving up on this listener
		return err
	}
	s.log.Info("api listening", "path", path)
	if s.testOnlyListening != nil {
		s.testOnlyListening()
	}

	stop := context.AfterFunc(ctx, func() { _ = ln.Close() }) // unblocks Accept
	defer stop()
	// Commands outlive ctx by up to ShutdownTimeout, then are cancelled.
	base, cancelAll := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelAll(nil)

	var wg sync.WaitGroup
	sem := make(chan struct{}, s.opts.MaxConcurrent)
	var serveErr error
	delay := time.Duration(0)
accept:
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break accept
		}
		conn, err := ln.AcceptUnix()
		if err != nil {
			<-sem
			if ctx.Err() != nil {
				break accept
			}
			if temporaryAcceptError(err) {
				// As net/http does: back off, capped at 1 s.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, retrying", "path", path, "err", err, "retry_in", delay)
				select {
				case <-time.After(delay):
				case <-ctx.Done():
				}
				continue
			}
			serveErr = fmt.Errorf("accept on %s: %w", path, err)
			break accept
		}
		delay = 0
		wg.Go(func() {
			defer func() { <-sem }()
			s.serveConn(base, conn)
		})
	}
	_ = ln.Close() // may already be closed by the AfterFunc; both errors are moot

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.opts.ShutdownTimeout):
		s.log.Warn("cancelling requests still running at shutdown", "path", path)
		cancelAll(errShuttingDown)
		select {
		case <-done:
		case <-time.After(time.Second):
			s.log.Error("requests still running after cancel; leaving them", "path", path)
		}
	}
	s.log.Info("api stopped", "path", path)
	return serveErr
}

// setOwner makes the socket mode 0660 and gives it to the configured group.
func (s *Server) setOwner(path string) error {
	if err := os.Chmod(path, 0o660); err != nil {
		return fmt.Errorf("set mode of socket %s: %w", path, err)
	}
	name := s.opts.Group
	if name == "" {
		s.log.Warn("no group configured for the socket: only the daemon's own group can use it", "path", path)
		return nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		s.log.Warn("socket group cannot be found; leaving the socket's group as is", "path", path, "group", name, "err", err)
		return nil
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		s.log.Warn("socket group has a non-numeric id; leaving the socket's group as is", "path", path, "group", name, "gid", g.Gid)
		return nil
	}
	if err := os.Chown(path, -1, gid); err != nil {
		// Not fatal: recording matters more than the CLI. But viewers cannot
		// connect until this is fixed, so a human is needed.
		s.log.Error("cannot give the socket to its group; its users cannot connect", "path", path, "group", name, "err", err)
	}
	return nil
}

// lockFile takes an exclusive, non-blocking flock on path, creating it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open socket lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close() // read-only use; nothing to lose
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked)", ErrInUse, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil // closing releases the lock
}

// removeStale removes a socket file at path that nobody answers on.
func removeStale(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("socket path %s exists and is not a socket: move it away or set another socket path", path)
	}
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "unix", path)
	switch {
	case err == nil:
		_ = c.Close() // probe only
		return fmt.Errorf("%w (%s)", ErrInUse, path)
	case errors.Is(err, syscall.EAGAIN):
		return fmt.Errorf("%w (%s: backlog full)", ErrInUse, path)
	case !errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

func temporaryAcceptError(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// serveConn answers the one request on conn and closes it.
func (s *Server) serveConn(ctx context.Context, conn *net.UnixConn) {
	var watcher sync.WaitGroup
	defer watcher.Wait() // runs last: conn is closed by then, so it returns
	defer func() {
		_ = conn.Close() // the answer is written or abandoned; nothing to flush
	}()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("api connection panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()

	c := s.identify(conn)
	_ = conn.SetReadDeadline(time.Now().Add(s.readTimeout)) // a failure shows up in the read
	line, err := readLine(conn)
	var resp Response
	switch {
	case len(line) == 0 && err != nil && !errors.Is(err, errTooLarge):
		// Connected and said nothing (a liveness probe, or a client that
		// gave up): no request, nothing to audit.
		s.log.Debug("connection closed without a request", "uid", c.UID, "err", err)
		return
	case err != nil:
		what := "request not complete within " + s.readTimeout.String()
		if errors.Is(err, errTooLarge) {
			what = "request larger than 1 MiB"
		}
		resp = s.finish(c, "", nil, "bad request: "+what, nil, &Error{Code: CodeBadInput, Msg: what})
	default:
		_ = conn.SetReadDeadline(time.Time{})
		rctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		// The client keeps its side open until it has the answer, so end of
		// input means it gave up: cancel its command.
		watcher.Go(func() {
			_, _ = io.Copy(io.Discard, conn) // ends on EOF or when conn is closed
			cancel(errHungUp)
		})
		resp = s.handle(rctx, c, line)
	}
	b, err := json.Marshal(resp)
	if err != nil { // cannot happen: Response holds only strings and valid JSON
		s.log.Error("encode response", "err", err)
		b = []byte(`{"ok":false,"error":{"code":1,"msg":"internal error"}}`)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(responseWriteTimeout))
	if _, err := conn.Write(append(b, '\n')); err != nil {
		s.log.Debug("write response", "uid", c.UID, "err", err)
		return
	}
	if resp.stream != nil {
		_ = conn.SetWriteDeadline(time.Time{}) // a large package takes as long as it takes
		if err := resp.stream.StreamTo(ctx, conn); err != nil {
			s.log.Warn("stream answer", "uid", c.UID, "err", err)
		}
	}
}

// unknownCaller stands for a peer that could not be identified.
var unknownCaller = Caller{UID: -1, GID: -1, PID: -1, User: "unknown", Role: RoleNone}

// identify asks the kernel who is on the other end of conn. It fails closed:
// any error gives unknownCaller, whose requests are all refused.
func (s *Server) identify(conn *net.UnixConn) Caller {
	uid, gid, pid, err := s.peerCred(conn)
	if err != nil {
		s.log.Warn("cannot read peer credentials", "err", err)
		return unknownCaller
	}
	c, err := s.lookup(uid, gid, pid, s.opts.Groups)
	if err != nil {
		s.log.Warn("cannot identify the caller", "uid", uid, "gid", gid, "pid", pid, "err", err)
		return unknownCaller
	}
	return c
}

// peerCred returns the credentials the peer had when it connected.
func peerCred(conn *net.UnixConn) (uid, gid, pid int, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := rc.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, 0, 0, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return 0, 0, 0, fmt.Errorf("peer credentials: %w", credErr)
	}
	return int(cred.Uid), int(cred.Gid), int(cred.Pid), nil
}

var (
	errTooLarge     = errors.New("request too large")
	errShuttingDown = errors.New("the daemon is shutting down")
	errHungUp       = errors.New("the client hung up")
)

// readLine reads the request line, without its newline. End of input also
// ends the line.
func readLine(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxRequest))
	line, err := br.ReadBytes('\n')
	switch {
	case err == nil:
		return line[:len(line)-1], nil
	case errors.Is(err, io.EOF) && len(line) >= maxRequest:
		return nil, errTooLarge
	case errors.Is(err, io.EOF) && len(line) > 0:
		return line, nil
	}
	return line, err
}

// handle answers one request line from caller c: it parses, checks identity
// and role, runs the command, audits and returns the response. It never
// panics and always returns a valid Response.
func (s *Server) handle(ctx context.Context, c Caller, line []byte) (resp Response) {
	defer func() {
		if r := recover(); r != nil { // a bug here, not in a command
			s.log.Error("api request panicked", "panic", r, "stack", string(debug.Stack()))
			resp = Response{Error: internalError()}
		}
	}()
	req, perr := parseRequest(line)
	name := printable(req.Command, 128)
	if c.UID < 0 {
		return s.finish(c, name, req.Args, "refused: cannot identify the caller", nil, &Error{
			Code: CodeFailed,
			Msg:  "cannot identify the caller",
			Hints: []string{
				"the daemon could not read who you are from the system; its log says why: journalctl -u cctv",
			},
		})
	}
	if perr != nil {
		msg := "bad request: " + printable(perr.Error(), 200)
		return s.finish(c, name, nil, msg, nil, &Error{Code: CodeBadInput, Msg: msg})
	}
	cmd, ok := s.cmds[req.Command]
	if !ok {
		return s.finish(c, name, req.Args, "bad request: unknown command", nil, &Error{
			Code:  CodeBadInput,
			Msg:   fmt.Sprintf("unknown command %q", name),
			Hints: []string{"the daemon knows: " + strings.Join(s.names, ", ")},
		})
	}
	if c.Role < cmd.Role {
		e, result := s.refusal(c, cmd)
		return s.finish(c, cmd.Name, req.Args, result, nil, e)
	}
	data, streamer, e := s.run(ctx, c, cmd, req.Args)
	result := "ok"
	if e != nil {
		result = "error: " + e.Msg
		if e == errInternal {
			result = "error: internal"
			e = internalError()
		}
	}
	resp = s.finish(c, cmd.Name, req.Args, result, data, e)
	if resp.OK {
		resp.stream = streamer
	}
	return resp
}

// parseRequest decodes a request line strictly: one JSON object, known
// fields only, nothing after it, a command name.
func parseRequest(line []byte) (Request, error) {
	var req Request
	if len(bytes.TrimSpace(line)) == 0 {
		return req, errors.New("empty request")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("not a JSON request: %w", err)
	}
	if len(bytes.TrimSpace(line[dec.InputOffset():])) > 0 {
		return req, errors.New("data after the request object")
	}
	if req.Command == "" {
		return req, errors.New("no command")
	}
	return req, nil
}

// refusal explains that c may not run cmd, and what to do.
func (s *Server) refusal(c Caller, cmd Command) (*Error, string) {
	group := s.opts.Groups.group(cmd.Role)
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
func (s *Server) run(ctx context.Context, c Caller, cmd Command, args json.RawMessage) (data json.RawMessage, streamer Streamer, e *Error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("command panicked", "command", cmd.Name, "uid", c.UID, "panic", r, "stack", string(debug.Stack()))
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
				s.log.Error("encode command result", "command", cmd.Name, "err", err)
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
				Msg:   fmt.Sprintf("%q took longer than %s and was stopped", cmd.Name, s.opts.RequestTimeout),
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
func (s *Server) finish(c Caller, command string, args json.RawMessage, result string, data json.RawMessage, e *Error) Response {
	if err := s.audit(c, command, args, result); err != nil {
		s.log.Error("audit log cannot be written; request refused", "command", command, "uid", c.UID, "result", result, "err", err)
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
func (s *Server) audit(c Caller, command string, args json.RawMessage, result string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("audit panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("audit panicked: %v", r)
		}
	}()
	return s.opts.Audit(c, command, args, result)
}
