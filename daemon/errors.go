package daemon

import (
	"errors"
	"log/slog"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/store"
)

// failed is an operation that did not succeed (exit 1), for a person.
func failed(msg string, hints ...string) *api.Error {
	return &api.Error{Code: api.CodeFailed, Msg: msg, Hints: hints}
}

// badInput is bad usage or input (exit 2), for a person.
func badInput(msg string, hints ...string) *api.Error {
	return &api.Error{Code: api.CodeBadInput, Msg: msg, Hints: hints}
}

// OpenStore opens the store of cfg, explaining the store's sentinels to a
// person (as *api.Error) while keeping them for errors.Is.
func OpenStore(cfg *config.Config, opts store.Options) (*store.Store, error) {
	opts.BoxID = cfg.BoxID
	st, err := store.Open(cfg.DataDir, opts)
	switch {
	case err == nil:
		return st, nil
	case errors.Is(err, store.ErrNoMarker):
		if e := DataDiskError(cfg.DataDir); e != nil {
			return nil, explained(err, e)
		}
		return nil, explained(err, failed("data directory "+cfg.DataDir+" is not a cctv data directory (its marker file is missing)",
			"check the data disk and its mount: findmnt "+cfg.DataDir))
	case errors.Is(err, store.ErrLocked):
		return nil, explained(err, failed("the recording index "+cfg.DataDir+"/index.db is locked by the running recorder",
			"check it with: systemctl status cctv",
			"to read the index directly, stop the recorder first: systemctl stop cctv"))
	case errors.Is(err, store.ErrSchema):
		return nil, explained(err, failed("the recording index was written by another version of cctv: "+err.Error(),
			"run the cctv version that wrote it, or ask the supplier to migrate it"))
	default:
		return nil, explained(err, failed("open the store: "+err.Error()))
	}
}

// openAuditedStore opens the store read-write with everything needed to
// seal segments and sign the audit log.
func openAuditedStore(cfg *config.Config, key *boxkey.Key, log *slog.Logger) (*store.Store, error) {
	ns, err := key.NoteSigner(cfg.BoxID)
	if err != nil {
		return nil, explained(err, failed("prepare the audit signer: "+err.Error()))
	}
	return OpenStore(cfg, store.Options{Signer: key, NoteSigner: ns, Logger: log})
}

// LoadKey loads the box signing key named in the config.
func LoadKey(cfg *config.Config) (*boxkey.Key, error) {
	key, err := boxkey.Load(cfg.KeyFile)
	switch {
	case err == nil:
		return key, nil
	case errors.Is(err, boxkey.ErrNotFound):
		return nil, explained(err, failed("no signing key at "+cfg.KeyFile, "create it with: cctv keys init"))
	default:
		return nil, explained(err, failed("load the signing key: "+err.Error()))
	}
}

// explainedError is a cause with the words a person should read.
type explainedError struct {
	cause error
	msg   *api.Error
}

func (e *explainedError) Error() string   { return e.msg.Msg }
func (e *explainedError) Unwrap() []error { return []error{e.msg, e.cause} }

// explained pairs err with the message for a person: errors.As finds the
// *api.Error, errors.Is still finds the cause's sentinels.
func explained(err error, e *api.Error) error { return &explainedError{cause: err, msg: e} }
