package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/timeinput"
)

// Exit codes (SPEC 8). Scripts must treat any other code as a failure.
const (
	exitOK     = 0 // success
	exitFailed = 1 // the operation failed, or what was checked is not sound
	exitUsage  = 2 // bad usage or bad input: nothing was changed
	// exitUnchecked (verify only): the package is intact, but its signer
	// was not checked against --fingerprint or --allowed-signers.
	exitUnchecked = 3
)

// exitStatus is an error that only carries an exit code: the command has
// already told the person everything (verify prints its own report).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// userError is an error meant for a person: what went wrong, naming the
// thing, and one concrete next step per hint.
type userError struct {
	code  int
	msg   string
	hints []string
	err   error
}

func (e *userError) Error() string { return e.msg }
func (e *userError) Unwrap() error { return e.err }

// failed is an operation that did not succeed (exit 1).
func failed(err error, msg string, hints ...string) *userError {
	return &userError{code: exitFailed, msg: msg, hints: hints, err: err}
}

// badInput is bad usage or input (exit 2).
func badInput(err error, msg string, hints ...string) *userError {
	return &userError{code: exitUsage, msg: msg, hints: hints, err: err}
}

// report prints err for a person on w and returns the exit code. It is the
// only place that decides exit codes.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *userError
	var ae *api.Error
	var es exitStatus
	var ce *config.Error
	var te *timeinput.Error
	switch {
	case errors.As(err, &es):
		return int(es)
	case errors.As(err, &ue):
		fmt.Fprintf(w, "cctv: error: %s\n", ue.msg)
		for _, h := range ue.hints {
			fmt.Fprintf(w, "cctv: hint: %s\n", h)
		}
		return ue.code
	case errors.As(err, &ae):
		fmt.Fprintf(w, "cctv: error: %s\n", ae.Msg)
		for _, h := range ae.Hints {
			fmt.Fprintf(w, "cctv: hint: %s\n", h)
		}
		if ae.Code == exitUsage {
			return exitUsage
		}
		return exitFailed
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			fmt.Fprintf(w, "cctv: error: %s\n", p.Error())
			if p.Hint != "" {
				fmt.Fprintf(w, "cctv: hint: %s\n", p.Hint)
			}
		}
		return exitUsage
	case errors.As(err, &te):
		fmt.Fprintf(w, "cctv: error: bad time %q: %s\n", te.Input, te.Msg)
		if te.Hint != "" {
			fmt.Fprintf(w, "cctv: hint: %s\n", te.Hint)
		}
		return exitUsage
	case isUsageError(err):
		fmt.Fprintf(w, "cctv: error: %s\n", err)
		fmt.Fprintf(w, "cctv: hint: see: cctv help\n")
		return exitUsage
	default:
		fmt.Fprintf(w, "cctv: error: %s\n", err)
		return exitFailed
	}
}

// usageError marks flag and argument mistakes found by the CLI itself.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func isUsageError(err error) bool {
	var u *usageError
	if errors.As(err, &u) {
		return true
	}
	// urfave/cli reports flag problems as plain errors with these prefixes.
	s := err.Error()
	return strings.HasPrefix(s, "flag provided but not defined") ||
		strings.HasPrefix(s, "Required flag") ||
		strings.HasPrefix(s, "invalid value") ||
		strings.Contains(s, "flag needs an argument")
}
