package daemon

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/store"
)

// A caller without the viewer role is refused every way of looking at
// footage (play, live, activity, review, sheet) and each refusal is
// audited; a viewer's review is audited as a view, and no view ever
// reaches the disclosure log (action "export").
func TestViews_RolesRefusedAndAuditedNeverDisclosures(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("cctv.toml", []byte(fmt.Sprintf("site = \"roles\"\nbox_id = \"roles\"\ndata_dir = %q\nkey_file = %q\nallowed_networks = [\"127.0.0.0/8\"]\n\n[[camera]]\nid = \"desk\"\nurl = \"rtsp://127.0.0.1:1/desk\"\n",
		filepath.Join(dir, "data"), filepath.Join(dir, "key"))))
	if err != nil {
		t.Fatal(err)
	}
	key, err := boxkey.Init(cfg.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Init(cfg.DataDir, cfg.BoxID); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	st, err := openAuditedStore(cfg, key, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &service{cfg: cfg, st: st, key: key, log: log, clock: clock.Real{}, self: api.Caller{User: "daemon"}}
	s.alerts.defaults()
	disp, err := s.dispatcher()
	if err != nil {
		t.Fatal(err)
	}
	window := `"from":"2026-11-22T14:00:00Z","to":"2026-11-22T15:00:00Z"`
	requests := map[string]string{
		api.CmdPlay:     `{"camera":"desk",` + window + `}`,
		api.CmdLive:     `{"cameras":["desk"]}`,
		api.CmdActivity: `{"camera":"desk",` + window + `}`,
		api.CmdReview:   `{"phase":"start","cameras":["desk"],` + window + `}`,
		api.CmdSheet:    `{"camera":"desk",` + window + `,"every":600000000000}`,
	}
	nobody := api.Caller{UID: 4001, User: "outsider", Role: api.RoleNone}
	for cmd, args := range requests {
		resp := disp.Do(t.Context(), nobody, []byte(`{"command":"`+cmd+`","args":`+args+`}`))
		if resp.OK || resp.Error == nil || !strings.Contains(resp.Error.Msg, "needs the viewer role") {
			t.Errorf("%s by a user in no group: %+v", cmd, resp.Error)
		}
		es, err := st.AuditEntries(store.AuditFilter{Action: "request." + cmd, User: "outsider"})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || !strings.HasPrefix(es[0].Result, "refused: needs viewer") {
			t.Errorf("refusal of %s audited as %+v", cmd, es)
		}
	}
	viewer := api.Caller{UID: 4002, User: "clerk", Role: api.RoleViewer}
	for _, line := range []string{
		`{"command":"review","args":{"phase":"start","cameras":["desk"],` + window + `,"reason":"incident"}}`,
		`{"command":"review","args":{"phase":"end","cameras":["desk"],` + window + `,"watched_s":42}}`,
		`{"command":"activity","args":{"camera":"desk",` + window + `}}`,
	} {
		if resp := disp.Do(t.Context(), viewer, []byte(line)); !resp.OK {
			t.Errorf("viewer: %s: %+v", line, resp.Error)
		}
	}
	views, err := st.AuditEntries(store.AuditFilter{Action: "view", User: "clerk"})
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != 2 || views[0].Params["kind"] != "review" || views[1].Params["watched"] != "42s" {
		out, _ := json.Marshal(views)
		t.Errorf("viewer's review audited as %s", out)
	}
	if d, _ := st.AuditEntries(store.AuditFilter{Action: "export"}); len(d) != 0 {
		t.Errorf("%d entries in the disclosure log after views only", len(d))
	}

	// Activity shows the holds on this camera, including those on every
	// camera ("all"), and not another camera's.
	from, to := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC), time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	for _, cam := range []string{"desk", store.AllCameras, "lobby"} {
		h := store.Hold{Camera: cam, From: from.Add(-time.Hour), To: to, Case: "C-" + cam, Reason: "incident"}
		if _, err := st.AddHold(h, store.Actor{User: "supervisor"}); err != nil {
			t.Fatal(err)
		}
	}
	resp := disp.Do(t.Context(), viewer, []byte(`{"command":"activity","args":{"camera":"desk",`+window+`}}`))
	var act api.Activity
	if !resp.OK || json.Unmarshal(resp.Data, &act) != nil {
		t.Fatalf("activity: %+v", resp.Error)
	}
	var cases []string
	for _, h := range act.Holds {
		cases = append(cases, h.Case)
	}
	if strings.Join(cases, ",") != "C-desk,C-all" && strings.Join(cases, ",") != "C-all,C-desk" {
		t.Errorf("activity of desk lists holds %v, want C-desk and C-all", cases)
	}
}
