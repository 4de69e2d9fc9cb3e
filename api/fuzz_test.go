package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzServeRequest feeds the dispatcher arbitrary request lines from every
// role and checks each is answered, audited at most once and within the
// audit budget: no entry carries more than MaxArgs of arguments, and a
// flood of refusals is audited as a burst plus summaries.
func FuzzServeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"command":"status"}`,
		`{"command":"export","args":{"camera":"front","from":"2026-11-22T14:00:00Z"}}`,
		`{"command":"hold","args":[1,2,3]}`,
		`{"command":"panic"}`,
		`{"command":"fail","args":null}`,
		`{"command":"badresult"}`,
		`{"command":"slow"}`,
		`{"command":"nope\u0000\u001b[31m"}`,
		`{"command":"status","user":"root"}`,
		`{"command":"status"} trailing`,
		`{"command":"status","args":{"junk":"` + strings.Repeat("x", 5000) + `"}}`,
		`{"command":"admin","args":{"note":"` + strings.Repeat("y", 2000) + `"}}`,
		`{"Command":"status"}`,
		`{"command":1}`,
		`{}`, `null`, `[]`, ``, "\xff\xfe", `{"command":"status","args":`,
	} {
		for _, role := range []uint8{0, 1, 2, 3, 255} {
			f.Add([]byte(seed), role)
		}
	}
	var audits atomic.Int64
	s, err := NewDispatcher(DispatcherOptions{
		RequestTimeout: time.Millisecond, // for "slow"
		Groups:         testGroups,
		Commands:       testCommands(),
		Audit: func(c Caller, command string, args json.RawMessage, result string) error {
			audits.Add(1)
			if len(args) > MaxArgs || len(command) > 200 || len(result) > 1024 {
				f.Errorf("audit entry over budget: command %d bytes, args %d bytes, result %d bytes", len(command), len(args), len(result))
			}
			if args != nil && !json.Valid(args) {
				f.Errorf("audited invalid args %q", args)
			}
			if !utf8.ValidString(command) || strings.ContainsAny(command, "\x00\n\x1b") {
				f.Errorf("audited unsafe command name %q", command)
			}
			return nil
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte, role uint8) {
		c := Caller{UID: 1000, GID: 1000, PID: 1, User: "fuzz", Role: Role(role % 4)}
		if role == 255 {
			c = unknownCaller
		}
		before := audits.Load()
		resp := s.Do(t.Context(), c, line)
		if n := audits.Load() - before; n > 1 || n == 0 && resp.OK {
			t.Fatalf("audit called %d times for an answer with ok=%v, want once (a refusal beyond the burst: not at all)", n, resp.OK)
		}
		if resp.OK != (resp.Error == nil) {
			t.Fatalf("ok=%v with error %+v", resp.OK, resp.Error)
		}
		if e := resp.Error; e != nil && (e.Code != 1 && e.Code != 2 || e.Msg == "") {
			t.Fatalf("bad error %+v", e)
		}
		if resp.Data != nil && !json.Valid(resp.Data) {
			t.Fatalf("invalid data %q", resp.Data)
		}
		if c.UID < 0 && resp.OK {
			t.Fatal("unidentified caller was served")
		}
		b, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.ContainsRune(b, '\n') {
			t.Fatalf("response is not one line: %q", b)
		}
		var back Response
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
	})
}
