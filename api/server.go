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
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInUse is returned by Serve when another daemon is serving on the socket.
var ErrInUse = errors.New("another cctv daemon is serving on the socket")

// ServerOptions configure a Server.
type ServerOptions struct {
	// Path is the socket path; its directory must exist. Required.
	Path string
	// Group owns the socket file (mode 0660); default Groups.Viewer, the
	// lowest role's group. If the group does not exist, a warning is logged
	// and the file keeps the daemon's group.
	Group string
	// Groups map roles to Unix groups, to work out each caller's role.
	Groups Groups
	// Dispatcher answers every request: role check, refusal, audit and the
	// command itself. Required.
	Dispatcher *Dispatcher
	// Logger receives server events; default: discard.
	Logger *slog.Logger
	// Listening, if set, is called once the socket accepts connections.
	Listening func()
	// MaxConcurrent bounds the requests running at once; default 32, of which
	// ReservedForSupervisors (default 4) only supervisors may use, so that a
	// supervisor's status, audit or hold always gets through.
	MaxConcurrent          int
	ReservedForSupervisors int
	// PerUser bounds the requests one user below supervisor runs at once
	// (default 4); PerUserConnections the connections such a user may hold
	// open, running, waiting or idle (default 16). Beyond that a connection
	// is refused at once.
	PerUser            int
	PerUserConnections int
	// SlotWait is how long a request waits for a place to run before it is
	// refused as busy; default 10 s.
	SlotWait time.Duration
	// MaxConnections bounds the connections open at once; default 256.
	// Further connections wait in the listen backlog.
	MaxConnections int
	// StreamStall is how long a stream that follows an answer (an export)
	// may make no progress, its reader taking nothing, before it is cut and
	// the stream closed; default 30 s.
	StreamStall time.Duration
	// ReceiptWait is how long the server waits for the receipt of a stream
	// that wants one (the client verifies the package first); default 10 min.
	ReceiptWait time.Duration
	// ShutdownTimeout is how long Serve waits for running commands once ctx
	// ends before cancelling them; default 5 s.
	ShutdownTimeout time.Duration
}

// Server answers CLI requests on a Unix socket. Create it with NewServer.
type Server struct {
	opts    ServerOptions
	log     *slog.Logger
	disp    *Dispatcher
	slots   *slots
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
	if opts.Dispatcher == nil {
		return nil, errors.New("new api server: no dispatcher")
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
	if opts.ReservedForSupervisors <= 0 {
		opts.ReservedForSupervisors = min(4, opts.MaxConcurrent/2)
	}
	if opts.PerUser <= 0 {
		opts.PerUser = 4
	}
	if opts.PerUserConnections <= 0 {
		opts.PerUserConnections = 16
	}
	if opts.SlotWait <= 0 {
		opts.SlotWait = 10 * time.Second
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 256
	}
	if opts.StreamStall <= 0 {
		opts.StreamStall = 30 * time.Second
	}
	if opts.ReceiptWait <= 0 {
		opts.ReceiptWait = 10 * time.Minute
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = defaultShutdownTimeout
	}
	return &Server{
		opts:        opts,
		log:         opts.Logger,
		disp:        opts.Dispatcher,
		slots:       newSlots(opts),
		peerCred:    peerCred,
		lookup:      LookupCaller,
		readTimeout: requestReadTimeout,
	}, nil
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
	if s.opts.Listening != nil {
		s.opts.Listening()
	}
	if s.testOnlyListening != nil {
		s.testOnlyListening()
	}

	stop := context.AfterFunc(ctx, func() { _ = ln.Close() }) // unblocks Accept
	defer stop()
	// Commands outlive ctx by up to ShutdownTimeout, then are cancelled.
	base, cancelAll := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelAll(nil)

	var wg sync.WaitGroup
	sem := make(chan struct{}, s.opts.MaxConnections)
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
	releaseConn, busy := s.slots.connect(c)
	if busy != nil {
		s.answer(ctx, conn, c, s.disp.Refuse(c, busy), nil)
		return
	}
	defer releaseConn()
	_ = conn.SetReadDeadline(time.Now().Add(s.readTimeout)) // a failure shows up in the read
	line, err := readLine(conn)
	var resp Response
	streamCtx := ctx // a hang-up ends a stream too, once the request was read
	receipts := make(chan []byte, 1)
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
		resp = s.disp.Reject(c, what)
	default:
		_ = conn.SetReadDeadline(time.Time{})
		rctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		// The client keeps its side open until it has the answer, so end of
		// input means it gave up: cancel its command.
		// A line after the request is the receipt for a stream.
		watcher.Go(func() {
			if line, err := readLine(conn); err == nil && len(line) > 0 {
				receipts <- line
				_, _ = io.Copy(io.Discard, conn) // ends on EOF or when conn is closed
			}
			cancel(errHungUp)
		})
		releaseRun, busy := s.slots.run(rctx, c)
		if busy != nil {
			resp = s.disp.Refuse(c, busy)
			break
		}
		defer releaseRun() // after the stream, which is work too
		resp = s.disp.Do(rctx, c, line)
		streamCtx = rctx
	}
	s.answer(streamCtx, conn, c, resp, receipts)
}

// answer writes resp on conn, then the stream that follows it, if any,
// cutting the stream when its reader takes nothing for StreamStall, then
// takes the reader's receipt from receipts if the stream wants one; the
// stream is closed in any case.
func (s *Server) answer(ctx context.Context, conn *net.UnixConn, c Caller, resp Response, receipts <-chan []byte) {
	if resp.stream != nil {
		defer func() { _ = resp.stream.Close() }() // after streaming, or instead
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
	if resp.stream == nil {
		return
	}
	w := &stallWriter{conn: conn, stall: s.opts.StreamStall}
	if err := resp.stream.StreamTo(ctx, w); err != nil {
		s.log.Warn("stream answer cut", "uid", c.UID, "user", c.User, "err", err)
		return
	}
	r, ok := resp.stream.(Receipted)
	if !ok {
		return
	}
	var receipt []byte
	select {
	case receipt = <-receipts:
	case <-ctx.Done():
		return // hung up without a receipt
	case <-time.After(s.opts.ReceiptWait):
		s.log.Warn("no receipt for a stream", "uid", c.UID, "user", c.User, "waited", s.opts.ReceiptWait)
		return
	}
	final := Response{OK: true}
	if err := r.Receipt(ctx, receipt); err != nil {
		final = Response{Error: toError(err)}
	}
	b, _ = json.Marshal(final) // only strings: cannot fail
	_ = conn.SetWriteDeadline(time.Now().Add(responseWriteTimeout))
	if _, err := conn.Write(append(b, '\n')); err != nil {
		s.log.Debug("write receipt answer", "uid", c.UID, "err", err)
	}
}

// toError is err for the client: an *Error as it is, else code 1.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e
	}
	return &Error{Code: CodeFailed, Msg: err.Error()}
}

// stallWriter writes to a connection with a deadline that moves on with
// every write: a reader that keeps taking keeps the stream alive, one that
// stops for stall ends it.
type stallWriter struct {
	conn  *net.UnixConn
	stall time.Duration
}

func (w *stallWriter) Write(p []byte) (int, error) {
	_ = w.conn.SetWriteDeadline(time.Now().Add(w.stall)) // a failure shows up in the write
	n, err := w.conn.Write(p)
	if err != nil {
		return n, fmt.Errorf("the reader took nothing for %s: %w", w.stall, err)
	}
	return n, nil
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
