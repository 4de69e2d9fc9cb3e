package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/council/cctv/internal/testutil"
)

// auditRec is one call of the Audit hook.
type auditRec struct {
	UID     int
	User    string
	Command string
	Args    string
	Result  string
}

// auditLog records Audit calls; set fail to make the hook fail.
type auditLog struct {
	mu   sync.Mutex
	recs []auditRec
	fail error
}

func (a *auditLog) hook(c Caller, command string, args json.RawMessage, result string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, auditRec{UID: c.UID, User: c.User, Command: command, Args: string(args), Result: result})
	return a.fail
}

func (a *auditLog) all() []auditRec {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]auditRec(nil), a.recs...)
}

func (a *auditLog) setFail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = err
}

var testGroups = Groups{Viewer: "cctv-test-view", Operator: "cctv-test-export", Supervisor: "cctv-test-admin"}

// whoami answers with who the server thinks is calling, and the args.
func whoami(_ context.Context, c Caller, args json.RawMessage) (any, error) {
	return map[string]any{"uid": c.UID, "user": c.User, "role": c.Role.String(), "args": args}, nil
}

// testCommands has one command per role and some that misbehave.
func testCommands() []Command {
	return []Command{
		{Name: "ping", Role: RoleNone, Handle: whoami},
		{Name: "status", Role: RoleViewer, Handle: whoami},
		{Name: "export", Role: RoleOperator, Handle: whoami},
		{Name: "hold", Role: RoleSupervisor, Handle: whoami},
		{Name: "fail", Role: RoleViewer, Handle: func(context.Context, Caller, json.RawMessage) (any, error) {
			return nil, errors.New("disk on fire")
		}},
		{Name: "badinput", Role: RoleViewer, Handle: func(context.Context, Caller, json.RawMessage) (any, error) {
			return nil, &Error{Code: 2, Msg: `no camera "x"`, Hints: []string{"see cctv status"}}
		}},
		{Name: "panic", Role: RoleViewer, Handle: func(context.Context, Caller, json.RawMessage) (any, error) {
			panic("boom")
		}},
		{Name: "badresult", Role: RoleViewer, Handle: func(context.Context, Caller, json.RawMessage) (any, error) {
			return func() {}, nil // cannot be encoded
		}},
		{Name: "slow", Role: RoleViewer, Handle: func(ctx context.Context, _ Caller, _ json.RawMessage) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	}
}

// shortDir makes a 0755 directory under the system temp dir: short enough
// for a socket path (108 bytes) and reachable by other users.
func shortDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testServer is a running server; Stop shuts it down and returns Serve's result.
type testServer struct {
	*Server
	Path  string
	Audit *auditLog
	stop  func() error
}

// startServer starts a server on a fresh socket (opts.Path if set) and waits
// until it listens. Unset Commands, Groups and Audit get test defaults; tweak
// may set seams before Serve. Cleanup stops it and checks the socket is gone.
// serverSetup is what a test may set: the server's options and its
// dispatcher's.
type serverSetup struct {
	Path            string
	Group           string
	Groups          Groups
	Logger          *slog.Logger
	MaxConcurrent   int
	ShutdownTimeout time.Duration
	Commands        []Command
	Audit           func(c Caller, command string, args json.RawMessage, result string) error
	RequestTimeout  time.Duration
}

func startServer(t *testing.T, opts serverSetup, tweak func(*Server)) *testServer {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(shortDir(t, "cctv-api-"), "cctv.sock")
	}
	if opts.Commands == nil {
		opts.Commands = testCommands()
	}
	if opts.Groups == (Groups{}) {
		opts.Groups = testGroups
	}
	audit := &auditLog{}
	if opts.Audit == nil {
		opts.Audit = audit.hook
	}
	disp, err := NewDispatcher(DispatcherOptions{Groups: opts.Groups, Commands: opts.Commands, Audit: opts.Audit, Logger: opts.Logger, RequestTimeout: opts.RequestTimeout})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(ServerOptions{Path: opts.Path, Group: opts.Group, Groups: opts.Groups, Dispatcher: disp, Logger: opts.Logger,
		MaxConcurrent: opts.MaxConcurrent, ShutdownTimeout: opts.ShutdownTimeout})
	if err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{})
	s.testOnlyListening = func() { close(listening) }
	if tweak != nil {
		tweak(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx) }()
	select {
	case <-listening:
	case err := <-errc:
		cancel()
		t.Fatalf("Serve: %v", err)
	}
	var once sync.Once
	var serveErr error
	ts := &testServer{Server: s, Path: opts.Path, Audit: audit}
	ts.stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-errc
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Lstat(opts.Path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket %s still there after Serve returned (%v)", opts.Path, err)
		}
	})
	return ts
}

// callCtx is a context that bounds a test's calls.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// asError returns err as *Error or fails the test.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error", err, err)
	}
	return e
}

// rawExchange sends raw bytes on a fresh connection and returns the answer.
func rawExchange(t *testing.T, path string, send []byte) Response {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	werr := make(chan error, 1)
	go func() { _, err := conn.Write(send); werr <- err }()
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	<-werr // may fail when the server stops reading early; the answer is what counts
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		t.Fatalf("answer %q: %v", line, err)
	}
	return resp
}

func TestServer_RoundTrip_RootIsSupervisor(t *testing.T) {
	testutil.NeedRoot(t, "it checks that uid 0 is supervisor with real peer credentials")
	ts := startServer(t, serverSetup{}, nil)
	ctx := callCtx(t)
	for _, cmd := range []string{"ping", "status", "export", "hold"} {
		var got struct {
			UID  int
			User string
			Role string
			Args map[string]int
		}
		if err := Call(ctx, ts.Path, cmd, map[string]int{"n": 7}, &got); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if got.UID != 0 || got.User != "root" || got.Role != "supervisor" || got.Args["n"] != 7 {
			t.Errorf("%s: answered %+v, want root, supervisor, args n=7", cmd, got)
		}
	}
	recs := ts.Audit.all()
	if len(recs) != 4 {
		t.Fatalf("audit has %d entries, want 4: %+v", len(recs), recs)
	}
	for i, cmd := range []string{"ping", "status", "export", "hold"} {
		want := auditRec{UID: 0, User: "root", Command: cmd, Args: `{"n":7}`, Result: "ok"}
		if recs[i] != want {
			t.Errorf("audit[%d] = %+v, want %+v", i, recs[i], want)
		}
	}
}

func TestCall_NilArgsAndOut(t *testing.T) {
	ts := startServer(t, serverSetup{}, nil)
	if err := Call(callCtx(t), ts.Path, "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	if recs := ts.Audit.all(); len(recs) != 1 || recs[0].Args != "" || recs[0].Result != "ok" {
		t.Errorf("audit = %+v, want one ok entry without args", recs)
	}
}

// fakeIdentity makes every caller uid 1000 with the given role.
func fakeIdentity(role Role) func(*Server) {
	return func(s *Server) {
		s.testOnlyIdentify(
			func(*net.UnixConn) (int, int, int, error) { return 1000, 1000, 42, nil },
			func(uid, gid, pid int, g Groups) (Caller, error) {
				return Caller{UID: uid, GID: gid, PID: pid, User: "alice", Role: role}, nil
			})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger used by many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestServer_Errors(t *testing.T) {
	var logs syncBuffer
	ts := startServer(t, serverSetup{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, fakeIdentity(RoleViewer))
	ctx := callCtx(t)
	tests := []struct {
		name, command string
		code          int
		msg           string // substring
		hint          string // substring of some hint
		audit         string
	}{
		{"handler error", "fail", 1, "disk on fire", "", "error: disk on fire"},
		{"handler *Error passes through", "badinput", 2, `no camera "x"`, "see cctv status", `error: no camera "x"`},
		{"panic", "panic", 1, "internal error", "report it", "error: internal"},
		{"unencodable result", "badresult", 1, "internal error", "", "error: internal"},
		{"unknown command", "nope", 2, `unknown command "nope"`, "badinput, badresult, export, fail, hold, panic, ping, slow, status", "bad request: unknown command"},
		{"refused operator", "export", 1, `"export" needs the operator role: add the user to group cctv-test-export`, "usermod -a -G cctv-test-export alice", "refused: needs operator (group cctv-test-export)"},
		{"refused supervisor", "hold", 1, `"hold" needs the supervisor role: add the user to group cctv-test-admin`, "alice has the viewer role", "refused: needs supervisor (group cctv-test-admin)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(ts.Audit.all())
			e := asError(t, Call(ctx, ts.Path, tc.command, nil, nil))
			if e.Code != tc.code || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got code %d %q, want code %d containing %q", e.Code, e.Msg, tc.code, tc.msg)
			}
			if tc.hint != "" && !strings.Contains(strings.Join(e.Hints, "\n"), tc.hint) {
				t.Errorf("hints %q do not contain %q", e.Hints, tc.hint)
			}
			recs := ts.Audit.all()
			if len(recs) != n+1 {
				t.Fatalf("audit grew by %d, want 1", len(recs)-n)
			}
			if r := recs[n]; r.Result != tc.audit || r.UID != 1000 || r.User != "alice" || r.Command != tc.command {
				t.Errorf("audit = %+v, want result %q for alice (1000) %s", r, tc.audit, tc.command)
			}
		})
	}
	// The daemon survived the panic, and logged it with a stack.
	if err := Call(ctx, ts.Path, "status", nil, nil); err != nil {
		t.Fatalf("after panic: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, `msg="command panicked" command=panic uid=1000 panic=boom stack=`) || !strings.Contains(l, "testCommands") {
		t.Errorf("panic not logged with its stack:\n%s", l)
	}
}

func TestServer_NoGroupForRole(t *testing.T) {
	ts := startServer(t, serverSetup{Groups: Groups{Viewer: "cctv-test-view"}}, fakeIdentity(RoleViewer))
	e := asError(t, Call(callCtx(t), ts.Path, "hold", nil, nil))
	if e.Code != 1 || !strings.Contains(e.Msg, "no group grants it") {
		t.Errorf("got %d %q", e.Code, e.Msg)
	}
	if r := ts.Audit.all()[0].Result; r != "refused: needs supervisor (no group)" {
		t.Errorf("audit result %q", r)
	}
}

func TestServer_BadRequests(t *testing.T) {
	ts := startServer(t, serverSetup{}, func(s *Server) {
		fakeIdentity(RoleSupervisor)(s)
		s.readTimeout = 100 * time.Millisecond
	})
	big := []byte(`{"command":"ping","args":"` + strings.Repeat("x", maxRequest) + `"}` + "\n")
	tests := []struct {
		name  string
		send  []byte
		msg   string
		audit string
	}{
		{"not json", []byte("hello\n"), "bad request: not a JSON request", "bad request: not a JSON request"},
		{"unknown field", []byte(`{"command":"ping","user":"root"}` + "\n"), `unknown field "user"`, "bad request: not a JSON request"},
		{"trailing data", []byte(`{"command":"ping"} {"command":"hold"}` + "\n"), "data after the request object", "bad request: data after"},
		{"no command", []byte(`{"args":{}}` + "\n"), "no command", "bad request: no command"},
		{"null", []byte("null\n"), "no command", "bad request: no command"},
		{"too large", big, "request larger than 1 MiB", "bad request: request larger than 1 MiB"},
		{"no newline in time", []byte(`{"command":"pi`), "request not complete within 100ms", "bad request: request not complete"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(ts.Audit.all())
			resp := rawExchange(t, ts.Path, tc.send)
			if resp.OK || resp.Error == nil || resp.Error.Code != 2 || !strings.Contains(resp.Error.Msg, tc.msg) {
				t.Fatalf("answer %+v (%+v), want code 2 containing %q", resp, resp.Error, tc.msg)
			}
			recs := ts.Audit.all()
			if len(recs) != n+1 || !strings.HasPrefix(recs[n].Result, tc.audit) {
				t.Errorf("audit %+v, want one new entry starting %q", recs[n:], tc.audit)
			}
		})
	}
}

func TestServer_EmptyConnectionNotAudited(t *testing.T) {
	ts := startServer(t, serverSetup{}, nil)
	conn, err := net.Dial("unix", ts.Path)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// Accepted after the empty connection, so both are handled by the time
	// Serve returns.
	if err := Call(callCtx(t), ts.Path, "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if recs := ts.Audit.all(); len(recs) != 1 || recs[0].Command != "ping" {
		t.Errorf("audit = %+v, want only the ping, nothing for a connection without a request", recs)
	}
}

func TestServer_FailClosed(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*Server)
	}{
		{"peer credentials unreadable", func(s *Server) {
			s.testOnlyIdentify(func(*net.UnixConn) (int, int, int, error) { return 0, 0, 0, errors.New("no creds") }, nil)
		}},
		{"user unknown", func(s *Server) {
			s.testOnlyIdentify(
				func(*net.UnixConn) (int, int, int, error) { return 3999999, 3999999, 1, nil },
				nil) // the real lookup: no such user
		}},
		{"group database unreadable", func(s *Server) {
			s.testOnlyIdentify(nil, func(int, int, int, Groups) (Caller, error) { return Caller{}, errors.New("nss down") })
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, serverSetup{}, tc.tweak)
			for _, cmd := range []string{"ping", "hold", "nope"} {
				e := asError(t, Call(callCtx(t), ts.Path, cmd, nil, nil))
				if e.Code != 1 || e.Msg != "cannot identify the caller" {
					t.Errorf("%s: got %d %q, want 1 %q", cmd, e.Code, e.Msg, "cannot identify the caller")
				}
			}
			recs := ts.Audit.all()
			if len(recs) != 3 {
				t.Fatalf("audit has %d entries, want 3", len(recs))
			}
			for _, r := range recs {
				if r.UID != -1 || r.User != "unknown" || r.Result != "refused: cannot identify the caller" {
					t.Errorf("audit %+v, want uid -1 unknown refused", r)
				}
			}
		})
	}
}

func TestServer_AuditFailureRefuses(t *testing.T) {
	ts := startServer(t, serverSetup{}, fakeIdentity(RoleViewer))
	ts.Audit.setFail(errors.New("disk full"))
	for _, cmd := range []string{"status", "hold", "nope"} { // allowed, refused, unknown
		e := asError(t, Call(callCtx(t), ts.Path, cmd, nil, nil))
		if e.Code != 1 || !strings.Contains(e.Msg, "audit log cannot be written") {
			t.Errorf("%s: got %d %q", cmd, e.Code, e.Msg)
		}
	}
	ts.Audit.setFail(nil)
	if err := Call(callCtx(t), ts.Path, "status", nil, nil); err != nil {
		t.Errorf("after the audit log recovered: %v", err)
	}
}

func TestServer_AuditPanicRefuses(t *testing.T) {
	ts := startServer(t, serverSetup{Audit: func(Caller, string, json.RawMessage, string) error { panic("audit bug") }}, fakeIdentity(RoleViewer))
	e := asError(t, Call(callCtx(t), ts.Path, "status", nil, nil))
	if !strings.Contains(e.Msg, "audit log cannot be written") {
		t.Errorf("got %q", e.Msg)
	}
}

func TestServer_RequestTimeout(t *testing.T) {
	ts := startServer(t, serverSetup{RequestTimeout: 50 * time.Millisecond}, fakeIdentity(RoleViewer))
	e := asError(t, Call(callCtx(t), ts.Path, "slow", nil, nil))
	if e.Code != 1 || !strings.Contains(e.Msg, `"slow" took longer than 50ms`) {
		t.Errorf("got %d %q", e.Code, e.Msg)
	}
}

func TestCall_CancelStopsCommand(t *testing.T) {
	started := make(chan struct{})
	stopped := make(chan error, 1)
	cmds := []Command{{Name: "wait", Role: RoleNone, Handle: func(ctx context.Context, _ Caller, _ json.RawMessage) (any, error) {
		close(started)
		<-ctx.Done()
		stopped <- ctx.Err()
		return nil, ctx.Err()
	}}}
	ts := startServer(t, serverSetup{Commands: cmds}, fakeIdentity(RoleViewer))
	ctx, cancel := context.WithCancel(callCtx(t))
	go func() { <-started; cancel() }()
	err := Call(ctx, ts.Path, "wait", nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v, want context.Canceled", err)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("command ctx ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command still running after the client hung up")
	}
}

func TestServer_ShutdownCancelsStuckCommands(t *testing.T) {
	started := make(chan struct{})
	cmds := []Command{{Name: "wait", Role: RoleNone, Handle: func(ctx context.Context, _ Caller, _ json.RawMessage) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}}
	ts := startServer(t, serverSetup{Commands: cmds, ShutdownTimeout: 10 * time.Millisecond}, fakeIdentity(RoleViewer))
	callErr := make(chan error, 1)
	go func() { callErr <- Call(context.Background(), ts.Path, "wait", nil, nil) }()
	<-started
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	e := asError(t, <-callErr)
	if e.Code != 1 || e.Msg != `"wait" was stopped: the daemon is shutting down` {
		t.Errorf("got %d %q", e.Code, e.Msg)
	}
}

func TestCall_DaemonDown(t *testing.T) {
	dir := shortDir(t, "cctv-api-")
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	notSocket := filepath.Join(dir, "file")
	if err := os.WriteFile(notSocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path string }{
		{"missing socket", filepath.Join(dir, "missing.sock")},
		{"missing directory", filepath.Join(dir, "nodir", "cctv.sock")},
		{"stale socket", stale},
		{"not a socket", notSocket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// If Call waited for anything, the deadline would turn the
			// answer into context.DeadlineExceeded and fail the test.
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			err := Call(ctx, tc.path, "status", nil, nil)
			if !errors.Is(err, ErrDaemonDown) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("Call = %v, want ErrDaemonDown naming %s", err, tc.path)
			}
		})
	}
}

func TestCall_PermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores file modes; TestServer_RealUsers covers this as other users")
	}
	ts := startServer(t, serverSetup{}, nil)
	if err := os.Chmod(ts.Path, 0); err != nil {
		t.Fatal(err)
	}
	e := asError(t, Call(callCtx(t), ts.Path, "status", nil, nil))
	if e.Code != 1 || !strings.Contains(e.Msg, "permission denied") {
		t.Errorf("got %d %q", e.Code, e.Msg)
	}
}

func TestServer_Serve_StaleSocketRemoved(t *testing.T) {
	path := filepath.Join(shortDir(t, "cctv-api-"), "cctv.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // as a crash would leave it
	ts := startServer(t, serverSetup{Path: path}, nil)
	if err := Call(callCtx(t), ts.Path, "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestServer_Serve_InUse(t *testing.T) {
	ts := startServer(t, serverSetup{}, nil)
	t.Run("another server", func(t *testing.T) {
		s2, err := NewServer(ServerOptions{Path: ts.Path, Dispatcher: testDispatcher(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s2.Serve(callCtx(t)); !errors.Is(err, ErrInUse) {
			t.Fatalf("second Serve = %v, want ErrInUse", err)
		}
	})
	t.Run("foreign listener", func(t *testing.T) {
		// Something live that does not use the lock file.
		path := filepath.Join(shortDir(t, "cctv-api-"), "cctv.sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		s2, err := NewServer(ServerOptions{Path: path, Dispatcher: testDispatcher(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s2.Serve(callCtx(t)); !errors.Is(err, ErrInUse) {
			t.Fatalf("Serve = %v, want ErrInUse", err)
		}
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("live socket was touched: %v", err)
		}
	})
	t.Run("not a socket", func(t *testing.T) {
		path := filepath.Join(shortDir(t, "cctv-api-"), "cctv.sock")
		if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		s2, err := NewServer(ServerOptions{Path: path, Dispatcher: testDispatcher(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s2.Serve(callCtx(t)); err == nil || !strings.Contains(err.Error(), "not a socket") {
			t.Fatalf("Serve = %v, want a not-a-socket error", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "keep me" {
			t.Errorf("file changed to %q", b)
		}
	})
	// The first server still answers.
	if err := Call(callCtx(t), ts.Path, "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestServer_SocketMode_MissingGroup(t *testing.T) {
	ts := startServer(t, serverSetup{Group: "cctv-no-such-group-x"}, nil)
	fi, err := os.Stat(ts.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode().Type() != fs.ModeSocket {
		t.Errorf("socket mode %v, want socket 0660", fi.Mode())
	}
}

func TestServer_Concurrency(t *testing.T) {
	const calls, limit = 100, 4
	var inFlight, peak atomic.Int32
	cmds := []Command{{Name: "work", Role: RoleNone, Handle: func(context.Context, Caller, json.RawMessage) (any, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		return "done", nil
	}}}
	ts := startServer(t, serverSetup{Commands: cmds, MaxConcurrent: limit}, nil)
	ctx := callCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() {
			var got string
			err := Call(ctx, ts.Path, "work", nil, &got)
			if err == nil && got != "done" {
				err = errors.New("answer " + got)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(ts.Audit.all()); n != calls {
		t.Errorf("audit called %d times, want %d", n, calls)
	}
	if p := peak.Load(); p > limit {
		t.Errorf("%d commands ran at once, limit %d", p, limit)
	}
}

func TestServer_ServeTwice(t *testing.T) {
	ts := startServer(t, serverSetup{}, nil)
	if err := ts.Serve(callCtx(t)); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Errorf("second Serve on the same server = %v", err)
	}
}

func TestNewServer_Invalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts ServerOptions
		want string
	}{
		{"no path", ServerOptions{Dispatcher: testDispatcher(t)}, "socket path is empty"},
		{"no dispatcher", ServerOptions{Path: "x"}, "no dispatcher"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServer(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewServer = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestNewDispatcher_Invalid(t *testing.T) {
	h := func(context.Context, Caller, json.RawMessage) (any, error) { return nil, nil }
	audit := (&auditLog{}).hook
	tests := []struct {
		name string
		opts DispatcherOptions
		want string
	}{
		{"no audit", DispatcherOptions{}, "no audit function"},
		{"no name", DispatcherOptions{Audit: audit, Commands: []Command{{Handle: h}}}, "has no name"},
		{"no handler", DispatcherOptions{Audit: audit, Commands: []Command{{Name: "a"}}}, `"a" has no handler`},
		{"bad role", DispatcherOptions{Audit: audit, Commands: []Command{{Name: "a", Role: 9, Handle: h}}}, "invalid role"},
		{"duplicate", DispatcherOptions{Audit: audit, Commands: []Command{{Name: "a", Handle: h}, {Name: "a", Handle: h}}}, "defined twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDispatcher(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewDispatcher = %v, want %q", err, tc.want)
			}
		})
	}
}

// testDispatcher answers testCommands with a throwaway audit log.
func testDispatcher(t *testing.T) *Dispatcher {
	t.Helper()
	d, err := NewDispatcher(DispatcherOptions{Groups: testGroups, Commands: testCommands(), Audit: (&auditLog{}).hook})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// streamResult is a command result followed by a byte stream.
type streamResult struct {
	Size int `json:"size"`
}

func (r streamResult) StreamTo(_ context.Context, w io.Writer) error {
	_, err := w.Write(bytes.Repeat([]byte("x"), r.Size))
	return err
}

func (r streamResult) Close() error { return nil }

func TestCallStream_BodyFollowsAnswer(t *testing.T) {
	cmds := append(testCommands(), Command{Name: "stream", Role: RoleViewer, Handle: func(ctx context.Context, c Caller, args json.RawMessage) (any, error) {
		return streamResult{Size: 3 << 20}, nil
	}})
	ts := startServer(t, serverSetup{Commands: cmds}, nil)
	var head streamResult
	var got int64
	err := CallStream(callCtx(t), ts.Path, "stream", nil, &head, func(r io.Reader) (any, error) {
		n, err := io.Copy(io.Discard, r)
		got = n
		return nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != 3<<20 || got != int64(head.Size) {
		t.Errorf("answer says %d bytes, received %d", head.Size, got)
	}
	if recs := ts.Audit.all(); len(recs) != 1 || recs[0].Result != "ok" {
		t.Errorf("audit: %+v", recs)
	}
}

// receiptStream wants a receipt after its stream, and refuses "bad" ones.
type receiptStream struct {
	streamResult
	got chan string
}

func (r receiptStream) Receipt(_ context.Context, receipt json.RawMessage) error {
	r.got <- string(receipt)
	if strings.Contains(string(receipt), "bad") {
		return &Error{Code: CodeFailed, Msg: "receipt does not match"}
	}
	return nil
}

func TestCallStream_Receipt(t *testing.T) {
	got := make(chan string, 4)
	cmds := append(testCommands(), Command{Name: "stream", Role: RoleViewer, Handle: func(ctx context.Context, c Caller, args json.RawMessage) (any, error) {
		return receiptStream{streamResult: streamResult{Size: 1 << 20}, got: got}, nil
	}})
	ts := startServer(t, serverSetup{Commands: cmds}, nil)
	for _, tc := range []struct {
		receipt string
		wantErr string
	}{{"good", ""}, {"bad", "receipt does not match"}} {
		err := CallStream(callCtx(t), ts.Path, "stream", nil, nil, func(r io.Reader) (any, error) {
			_, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20))
			return map[string]string{"said": tc.receipt}, err
		})
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("receipt %q: CallStream = %v, want %q", tc.receipt, err, tc.wantErr)
		}
		if r := <-got; r != `{"said":"`+tc.receipt+`"}` {
			t.Errorf("the stream got receipt %s", r)
		}
	}
}
