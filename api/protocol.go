package api

import (
	"context"
	"encoding/json"
	"io"
	"strings"
)

// Request is the one line a client sends.
type Request struct {
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args,omitempty"`
}

// Response is the one line the server answers with. Exactly one of Error
// (when OK is false) and Data (optional, when OK is true) is set.
type Response struct {
	OK    bool            `json:"ok"`
	Error *Error          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`

	stream Streamer // server side: written after the line, if set
}

// Error codes, as the CLI's exit codes.
const (
	CodeFailed   = 1 // the operation failed, including a refusal for the caller's role
	CodeBadInput = 2 // bad usage or bad input
)

// Error is an error meant for a person, carried over the socket. Msg says
// what went wrong; each hint is one thing to do about it.
type Error struct {
	Code  int      `json:"code"`
	Msg   string   `json:"msg"`
	Hints []string `json:"hints,omitempty"`
}

// Error returns Msg; the hints are for the CLI to print on lines of their own.
func (e *Error) Error() string { return e.Msg }

// maxRequest is the largest request line the server reads, newline included.
const maxRequest = 1 << 20

// printable makes a client-supplied string safe to log, audit and show:
// control characters and invalid UTF-8 are replaced and it is cut to max bytes.
func printable(s string, max int) string {
	cut := len(s) > max
	if cut {
		s = s[:max]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '\uFFFD'
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}

// Streamer is implemented by a command result that is followed on the
// connection by a byte stream (an evidence package, say). The server writes
// the JSON response line first, then calls StreamTo with the connection; the
// client reads the stream with CallStream. A stream that fails part-way
// simply ends: the client must check what it received (the package's
// manifest and signature do that). Close is called exactly once, after
// StreamTo or instead of it (the request failed, the client went away), and
// releases whatever the stream holds.
type Streamer interface {
	StreamTo(ctx context.Context, w io.Writer) error
	Close() error
}

// Receipted is implemented by a stream whose reader says what it received
// (an export: the package, verified and in place): after the stream, the
// client sends one JSON line, the receipt, and the server answers it with
// one Response line. Receipt is called at most once, before Close; a stream
// whose reader never sends a receipt is closed without one.
type Receipted interface {
	Receipt(ctx context.Context, receipt json.RawMessage) error
}

// Stream returns the byte stream that follows the response, or nil. Whoever
// takes it must Close it.
func (r Response) Stream() Streamer { return r.stream }
