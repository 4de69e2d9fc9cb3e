package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// The real-users test re-runs this binary as another Unix user to be the
// client; these variables tell TestMain to do that instead of testing.
const (
	envClient  = "CCTV_API_TEST_CLIENT"
	envSocket  = "CCTV_API_TEST_SOCKET"
	envCommand = "CCTV_API_TEST_COMMAND"
)

func TestMain(m *testing.M) {
	if os.Getenv(envClient) == "1" {
		os.Exit(clientMain())
	}
	os.Exit(m.Run())
}

// clientResult is what clientMain prints: the outcome of one Call.
type clientResult struct {
	OK         bool            `json:"ok"`
	Data       json.RawMessage `json:"data,omitempty"`
	Error      *Error          `json:"error,omitempty"` // daemon-side (or socket permission) error
	DaemonDown bool            `json:"daemon_down,omitempty"`
	Err        string          `json:"err,omitempty"` // any other error
}

// clientMain calls the daemon once, prints a clientResult on stdout and
// returns the exit code the CLI would use.
func clientMain() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res clientResult
	var data json.RawMessage
	err := Call(ctx, os.Getenv(envSocket), os.Getenv(envCommand), map[string]string{"from": "client"}, &data)
	code := 0
	var e *Error
	switch {
	case err == nil:
		res.OK, res.Data = true, data
	case errors.As(err, &e):
		res.Error, code = e, e.Code
	default:
		res.DaemonDown, res.Err, code = errors.Is(err, ErrDaemonDown), err.Error(), 1
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return code
}
