package main

import (
	"context"
	"errors"
	"io"

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
		return failed(err, "the cctv daemon is not running (nothing answers on "+cfg.Socket+")",
			"start it: systemctl start cctv",
			"see why it stopped: journalctl -u cctv")
	}
	return daemon.Direct(ctx, cfg, command, args, out, body)
}
