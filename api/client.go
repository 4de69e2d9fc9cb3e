package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// ErrDaemonDown means nobody answers on the socket: the file is missing, or
// it is left over and the connection is refused. Commands that can work on
// the store directly may fall back to that.
var ErrDaemonDown = errors.New("the cctv daemon is not running")

const (
	dialTimeout = 2 * time.Second
	// defaultCallTimeout bounds a Call whose ctx has no deadline, so a hung
	// daemon cannot hang the CLI; it is above the server's RequestTimeout.
	defaultCallTimeout = 10 * time.Minute
)

// Call sends command with args (encoded as JSON; nil for none) to the daemon
// on socketPath and decodes the answer's data into out (unless out is nil).
//
// It returns an *Error when the daemon refused or failed the request, and
// also when the socket's permissions keep the caller out (with the group to
// join); an error wrapping ErrDaemonDown (naming the path) when nobody
// listens; ctx's error when ctx ends first. Connecting gives up after 2 s;
// with no deadline on ctx the whole call gives up after 10 min.
func Call(ctx context.Context, socketPath, command string, args any, out any) error {
	return CallStream(ctx, socketPath, command, args, out, nil)
}

// CallStream is Call for a command whose answer is followed by a byte
// stream (see Streamer): after decoding the answer into out, it hands the
// rest of the connection to body. body is not called when the daemon
// refused or failed the request. A non-nil receipt from body is sent back
// (see Receipted) and the daemon's answer to it returned.
func CallStream(ctx context.Context, socketPath, command string, args any, out any, body func(io.Reader) (receipt any, err error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCallTimeout)
		defer cancel()
	}
	req := Request{Command: command}
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("encode arguments of %s: %w", command, err)
		}
		req.Args = raw
	}
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode request %s: %w", command, err)
	}
	line = append(line, '\n')
	if len(line) > maxRequest {
		return &Error{Code: CodeBadInput, Msg: fmt.Sprintf("request %s is larger than 1 MiB", command)}
	}

	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return dialError(ctx, socketPath, err)
	}
	defer conn.Close() // read-only from here on; nothing to lose
	// Wake any blocked read or write when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write(line); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", command, context.Cause(ctx))
		}
		return fmt.Errorf("send %s to the cctv daemon on %s: %w", command, socketPath, err)
	}
	var resp Response
	br := bufio.NewReaderSize(conn, 64<<10)
	respLine, err := br.ReadBytes('\n')
	if err == nil || (errors.Is(err, io.EOF) && len(respLine) > 0) {
		err = json.Unmarshal(respLine, &resp)
		if err != nil {
			err = fmt.Errorf("malformed answer: %w", err)
		}
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %w", command, context.Cause(ctx))
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
			return fmt.Errorf("%s: the cctv daemon on %s closed the connection without answering (is it stopping?)", command, socketPath)
		}
		return fmt.Errorf("read answer to %s from %s: %w", command, socketPath, err)
	}
	if !resp.OK {
		if resp.Error == nil {
			return &Error{Code: CodeFailed, Msg: fmt.Sprintf("the cctv daemon refused %s without saying why", command)}
		}
		return resp.Error
	}
	if out != nil && len(resp.Data) > 0 {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			return fmt.Errorf("decode answer to %s: %w", command, err)
		}
	}
	if body == nil {
		return nil
	}
	receipt, err := body(br)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", command, context.Cause(ctx))
		}
		return fmt.Errorf("receive %s from the cctv daemon: %w", command, err)
	}
	if receipt == nil {
		return nil
	}
	return sendReceipt(conn, br, command, receipt)
}

// sendReceipt sends the receipt of a stream and reads the daemon's answer.
func sendReceipt(w io.Writer, br *bufio.Reader, command string, receipt any) error {
	line, err := json.Marshal(receipt)
	if err != nil {
		return fmt.Errorf("encode the receipt of %s: %w", command, err)
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("send the receipt of %s: %w", command, err)
	}
	answer, err := br.ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(answer) > 0) {
		return fmt.Errorf("%s: the cctv daemon did not answer the receipt: %w", command, err)
	}
	var resp Response
	if err := json.Unmarshal(answer, &resp); err != nil {
		return fmt.Errorf("%s: malformed answer to the receipt: %w", command, err)
	}
	if !resp.OK {
		if resp.Error == nil {
			return &Error{Code: CodeFailed, Msg: fmt.Sprintf("the cctv daemon refused the receipt of %s without saying why", command)}
		}
		return resp.Error
	}
	return nil
}

// dialError classifies a failure to connect.
func dialError(ctx context.Context, path string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("connect to the cctv daemon on %s: %w", path, context.Cause(ctx))
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (nothing answers on %s)", ErrDaemonDown, path)
	case errors.Is(err, fs.ErrPermission):
		e := &Error{Code: CodeFailed, Msg: fmt.Sprintf("permission denied on the cctv socket %s", path)}
		if g, own := socketGroup(path); own {
			// The socket still has the service's own group: the recorder
			// could not hand it to the viewer group. Joining the service
			// group would give unaudited access to all footage.
			e.Hints = append(e.Hints,
				fmt.Sprintf("the socket belongs to the service's own group %s, not to the viewer group: the recorder could not hand it over (see: journalctl -u cctv)", g),
				"never join group "+g+": it reads every segment and the signing key; ask the administrator to fix the recorder")
		} else if g != "" {
			e.Hints = append(e.Hints, fmt.Sprintf("ask a supervisor to add you to group %s, then log in again", g))
		} else {
			e.Hints = append(e.Hints, "ask a supervisor to add you to the viewer group in the [access] table of the config, then log in again")
		}
		return e
	case errors.Is(err, syscall.EAGAIN):
		return fmt.Errorf("connect to the cctv daemon on %s: it is busy, try again", path)
	}
	return fmt.Errorf("connect to the cctv daemon on %s: %w", path, err)
}

// socketGroup names the group owning the socket file ("" if unknown), and
// whether that is its owner's primary group: the daemon did not hand it over.
func socketGroup(path string) (name string, ownersPrimary bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	g, err := user.LookupGroupId(strconv.FormatUint(uint64(st.Gid), 10))
	if err != nil {
		return "", false
	}
	if st.Uid != 0 {
		if u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10)); err == nil && u.Gid == g.Gid {
			return g.Name, true
		}
	}
	return g.Name, false
}
