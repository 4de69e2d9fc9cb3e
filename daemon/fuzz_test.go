package daemon

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/store"
)

// maxEntryBytes bounds one audit entry as stored: arguments are at most
// api.MaxArgs, the rest is a few hundred bytes.
const maxEntryBytes = api.MaxArgs + 2048

// FuzzDaemonRequest feeds the daemon's own dispatcher, with its real audit
// log in a real store, arbitrary request lines from every role, and checks
// that no request makes the audit log grow by more than one bounded entry.
func FuzzDaemonRequest(f *testing.F) {
	for _, seed := range []string{
		`{"command":"status"}`,
		`{"command":"list","args":{"from":"2026-11-22T14:00:00Z","to":"2026-11-22T15:00:00Z"}}`,
		`{"command":"list","args":{"junk":"` + strings.Repeat("j", 3000) + `"}}`,
		`{"command":"hold.add","args":{"camera":"all","case":"` + strings.Repeat("c", 900) + `","reason":"r"}}`,
		`{"command":"export","args":{"cameras":["x"],"case":"a\nb"}}`,
		`{"command":"audit.list","args":{"limit":-1}}`,
		`{"command":"nope\u001b[2J"}`, `{"command":"status","args":[` + strings.Repeat(`"x",`, 2000) + `"x"]}`,
		`not json`, ``,
	} {
		f.Add([]byte(seed), uint8(1))
		f.Add([]byte(seed), uint8(3))
	}
	dir := f.TempDir()
	cfg, err := config.Parse("cctv.toml", []byte(fmt.Sprintf("site = \"fuzz\"\nbox_id = \"fuzz\"\ndata_dir = %q\nkey_file = %q\n",
		filepath.Join(dir, "data"), filepath.Join(dir, "key"))))
	if err != nil {
		f.Fatal(err)
	}
	key, err := boxkey.Init(cfg.KeyFile)
	if err != nil {
		f.Fatal(err)
	}
	if err := store.Init(cfg.DataDir, cfg.BoxID); err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	st, err := openAuditedStore(cfg, key, log)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	s := &service{cfg: cfg, st: st, key: key, log: log, clock: clock.Real{}, self: api.Caller{User: "fuzz-daemon"}}
	s.alerts.defaults()
	disp, err := s.dispatcher()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte, role uint8) {
		c := api.Caller{UID: 4242, User: "fuzzer", Role: api.Role(role % 4)}
		before, err := st.AuditSize()
		if err != nil {
			t.Fatal(err)
		}
		resp := disp.Do(t.Context(), c, line)
		if s := resp.Stream(); s != nil {
			_ = s.Close()
		}
		after, err := st.AuditSize()
		if err != nil {
			t.Fatal(err)
		}
		if after-before > 2 { // the request, and at most one entry of its own (a hold, say)
			t.Fatalf("one request added %d audit entries", after-before)
		}
		for seq := before; seq < after; seq++ { // seqs count from 0
			rec, err := st.AuditRecord(seq)
			if err != nil {
				t.Fatal(err)
			}
			if len(rec) > maxEntryBytes {
				var e map[string]any
				_ = json.Unmarshal(rec, &e)
				t.Fatalf("audit entry %d is %d bytes (budget %d): action %v", seq, len(rec), maxEntryBytes, e["action"])
			}
		}
	})
}
