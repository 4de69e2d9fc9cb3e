package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestDispatcher_OversizedArgs_RefusedAuditedBySizeAndHash(t *testing.T) {
	audit := &auditLog{}
	d, err := NewDispatcher(DispatcherOptions{Groups: testGroups, Commands: testCommands(), Audit: audit.hook})
	if err != nil {
		t.Fatal(err)
	}
	viewer := Caller{UID: 1003, User: "bob", Role: RoleViewer}
	for _, tc := range []struct {
		name string
		args string
	}{
		{"one long text", `{"reason":"` + strings.Repeat("x", MaxText+1) + `"}`},
		{"many short texts", `[` + strings.TrimSuffix(strings.Repeat(`"0123456789",`, MaxArgs/13+1), ",") + `]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := `{"command":"status","args":` + tc.args + `}`
			resp := d.Do(t.Context(), viewer, []byte(line))
			if resp.OK || resp.Error.Code != CodeBadInput || !strings.Contains(resp.Error.Msg, "too large") {
				t.Fatalf("oversized request answered %+v, want a bad-input refusal", resp)
			}
			recs := audit.all()
			last := recs[len(recs)-1]
			sum := sha256.Sum256([]byte(tc.args))
			want := fmt.Sprintf(`{"bytes":%d,"sha256":"%s"}`, len(tc.args), hex.EncodeToString(sum[:]))
			if last.Args != want || !strings.HasPrefix(last.Result, "refused: request arguments too large") {
				t.Errorf("audited %q => %q, want args %s", last.Args, last.Result, want)
			}
		})
	}
}

func TestDispatcher_UnknownFields_ShortEntry(t *testing.T) {
	audit := &auditLog{}
	cmds := append(testCommands(), Command{Name: "strict", Role: RoleViewer, Handle: whoami,
		Validate: func(args json.RawMessage) error { return fmt.Errorf("unknown field %q", "junk") }})
	d, err := NewDispatcher(DispatcherOptions{Groups: testGroups, Commands: cmds, Audit: audit.hook})
	if err != nil {
		t.Fatal(err)
	}
	resp := d.Do(t.Context(), Caller{UID: 1003, User: "bob", Role: RoleViewer}, []byte(`{"command":"strict","args":{"junk":"secret words"}}`))
	if resp.OK || resp.Error.Code != CodeBadInput {
		t.Fatalf("answered %+v", resp)
	}
	last := audit.all()[0]
	if last.Args != "" || strings.Contains(last.Result, "secret words") {
		t.Errorf("refused arguments audited in full: %+v", last)
	}
}

func TestDispatcher_RefusalFlood_BurstThenSummary(t *testing.T) {
	audit := &auditLog{}
	d, err := NewDispatcher(DispatcherOptions{Groups: testGroups, Commands: testCommands(), Audit: audit.hook, RefusalBurst: 5})
	if err != nil {
		t.Fatal(err)
	}
	viewer := Caller{UID: 1003, User: "bob", Role: RoleViewer}
	other := Caller{UID: 1004, User: "alice", Role: RoleViewer}
	for range 1000 {
		if resp := d.Do(t.Context(), viewer, []byte(`{"command":"hold"}`)); resp.OK {
			t.Fatal("refused command answered")
		}
	}
	if resp := d.Do(t.Context(), other, []byte(`{"command":"hold"}`)); resp.OK {
		t.Fatal("refused command answered")
	}
	if resp := d.Do(t.Context(), viewer, []byte(`{"command":"status"}`)); !resp.OK {
		t.Fatalf("allowed request after the flood: %+v", resp.Error)
	}
	if n := len(audit.all()); n != 5+1+1 {
		t.Errorf("%d entries after 1000 refusals of one uid, one of another and one allowed request, want 7", n)
	}
	d.FlushSuppressed()
	recs := audit.all()
	last := recs[len(recs)-1]
	if len(recs) != 8 || last.UID != 1003 || last.Command != "ratelimit" ||
		!strings.Contains(last.Result, "uid 1003 (bob): 995 refused requests") {
		t.Errorf("summary entry %+v (of %d entries)", last, len(recs))
	}
	d.FlushSuppressed()
	if n := len(audit.all()); n != 8 {
		t.Errorf("a second flush wrote %d more entries", n-8)
	}
}
