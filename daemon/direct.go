package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/store"
)

// directCommands may be answered with the daemon down.
var directCommands = map[string]bool{
	api.CmdList: true, api.CmdAuditList: true, api.CmdAuditVerify: true,
	api.CmdHoldList: true, api.CmdHoldAdd: true, api.CmdHoldRelease: true,
	api.CmdRetention: true, api.CmdTimeConfirm: true, api.CmdExport: true, api.CmdStill: true,
	api.CmdSAROpen: true, api.CmdSARList: true, api.CmdSARClose: true, api.CmdSARPreview: true, api.CmdSARExport: true,
	api.CmdMarkAdd: true, api.CmdMarkList: true, api.CmdSheet: true, api.CmdActivity: true, api.CmdReview: true,
}

// CanRunDirect reports whether command may be answered by Direct.
func CanRunDirect(command string) bool { return directCommands[command] }

// Direct answers one request when the daemon is down, straight from the
// store, as api.CallStream would through the socket: the same dispatcher
// checks the caller's role (from this process's user), words refusals and
// audits the request (with path=direct). A caller who cannot write the audit
// log (it needs the index and the signing key) is refused rather than served
// unaudited. out and body are as for api.CallStream.
func Direct(ctx context.Context, cfg *config.Config, command string, args, out any, body func(io.Reader) (receipt any, err error)) error {
	if !CanRunDirect(command) {
		return failed(fmt.Sprintf("%q needs the running daemon", command), "start it: systemctl start cctv")
	}
	caller, err := api.CurrentCaller(groupsOf(cfg))
	if err != nil {
		return explained(err, failed("cannot identify you: "+err.Error()))
	}
	key, err := boxkey.Load(cfg.KeyFile)
	if err != nil {
		return explained(err, failed("the cctv daemon is not running, and reading the store directly needs access to the signing key for the audit log",
			"start the daemon: systemctl start cctv",
			"or run this as the cctv service user or root"))
	}
	log := slog.New(slog.DiscardHandler)
	st, err := openAuditedStore(cfg, key, log)
	if err != nil {
		return err
	}
	defer st.Close()
	s := &service{cfg: cfg, st: st, key: key, log: log, self: caller, clock: clock.Real{}, direct: true}
	s.alerts.defaults()
	disp, err := s.dispatcher()
	if err != nil {
		return err
	}
	req := api.Request{Command: command}
	if args != nil {
		if req.Args, err = json.Marshal(args); err != nil {
			return fmt.Errorf("encode arguments of %s: %w", command, err)
		}
	}
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode request %s: %w", command, err)
	}
	resp := disp.Do(ctx, caller, line)
	disp.FlushSuppressed()
	stream := resp.Stream()
	if stream != nil {
		defer stream.Close()
	}
	if !resp.OK {
		return resp.Error
	}
	if out != nil && len(resp.Data) > 0 {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			return fmt.Errorf("decode answer to %s: %w", command, err)
		}
	}
	if stream == nil || body == nil {
		return nil
	}
	pr, pw := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		err := stream.StreamTo(ctx, pw)
		pw.CloseWithError(err)
		sent <- err
	}()
	receipt, err := body(pr)
	pr.CloseWithError(io.ErrClosedPipe) // unblocks the writer if body stopped early
	if serr := <-sent; err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return err
	}
	r, ok := stream.(api.Receipted)
	if receipt == nil || !ok {
		return nil
	}
	raw, err := json.Marshal(receipt)
	if err != nil {
		return fmt.Errorf("encode the receipt of %s: %w", command, err)
	}
	return r.Receipt(ctx, raw)
}

// ErrNoStore is returned by AuditKeyInit when there is no store yet.
var ErrNoStore = errors.New("no store to audit in yet")

// AuditKeyInit records a new signing key in the audit log, in the name of
// this process's user, when the store is there to take it (on a new box the
// key comes first; the daemon's start entry then records the fingerprint).
func AuditKeyInit(cfg *config.Config, key *boxkey.Key) error {
	caller, err := api.CurrentCaller(groupsOf(cfg))
	if err != nil {
		return err
	}
	st, err := openAuditedStore(cfg, key, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoStore, err)
	}
	defer st.Close()
	_, err = st.Audit(store.AuditEntry{User: caller.User, UID: caller.UID, Action: "key.init",
		Params: map[string]string{"fingerprint": key.Fingerprint(), "path": cfg.KeyFile}})
	return err
}
