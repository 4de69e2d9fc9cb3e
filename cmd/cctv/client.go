package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/daemon"
)

// ask sends one request to the daemon and decodes its answer into out (body
// reads a stream that follows it, if any). When the daemon is down, a
// command that may run without it is answered from the store directly, by
// the same dispatcher: the same role check, refusal and audit entry.
func ask(ctx context.Context, cfg *config.Config, command string, args, out any, body func(io.Reader) (receipt any, err error)) error {
	err := api.CallStream(ctx, cfg.Socket, command, args, out, body)
	if !errors.Is(err, api.ErrDaemonDown) {
		return err
	}
	if !daemon.CanRunDirect(command) {
		hints := []string{"start it: systemctl start cctv", "see why it stopped: journalctl -u cctv -e"}
		if u := unitState(ctx); u != "" {
			hints = append([]string{u}, hints...)
		}
		msg := "the cctv daemon is not running (nothing answers on " + cfg.Socket + ")"
		if e := daemon.DataDiskError(cfg.DataDir); e != nil {
			msg += ": " + e.Msg
			hints = append(e.Hints, hints...)
		}
		return failed(err, msg, hints...)
	}
	return daemon.Direct(ctx, cfg, command, args, out, body)
}

// unitState describes cctv.service as systemd sees it ("cctv.service is
// activating (auto-restart) after exit-code, 3 restarts, since …"), so that a
// stopped recorder's status says more than "not running". It returns ""
// where there is no systemd or no such unit (the demo, a development box).
func unitState(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", "show", "cctv.service", "--no-pager",
		"-p", "LoadState", "-p", "ActiveState", "-p", "SubState", "-p", "Result", "-p", "NRestarts",
		"-p", "StateChangeTimestamp").Output()
	if err != nil {
		return ""
	}
	p := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			p[k] = v
		}
	}
	if p["LoadState"] != "loaded" {
		return ""
	}
	msg := fmt.Sprintf("systemd: cctv.service is %s (%s)", p["ActiveState"], p["SubState"])
	if r := p["Result"]; r != "" && r != "success" {
		msg += " after " + r
	}
	if n := p["NRestarts"]; n != "" && n != "0" {
		msg += ", " + n + " restarts"
	}
	if ts := p["StateChangeTimestamp"]; ts != "" {
		msg += ", since " + ts
	}
	return msg
}
