package main

import (
	"errors"
	"log/slog"

	"github.com/council/cctv/config"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/store"
)

// openStore opens the store for a CLI command, turning the store's sentinels
// into messages that say what to do.
func openStore(cfg *config.Config, key *boxkey.Key, readOnly bool, log *slog.Logger) (*store.Store, error) {
	opts := store.Options{BoxID: cfg.BoxID, ReadOnly: readOnly, Logger: log}
	if key != nil {
		opts.Signer = key
	}
	return openStoreWith(cfg, opts)
}

// openStoreWith opens the store with opts, explaining failures to a person.
func openStoreWith(cfg *config.Config, opts store.Options) (*store.Store, error) {
	st, err := store.Open(cfg.DataDir, opts)
	switch {
	case err == nil:
		return st, nil
	case errors.Is(err, store.ErrNoMarker):
		return nil, failed(err, "data directory "+cfg.DataDir+" is not a cctv data directory (its marker file is missing)",
			"if the data disk did not mount, mount it and try again",
			"on a new box, create it with: cctv init")
	case errors.Is(err, store.ErrLocked):
		return nil, failed(err, "the recording index "+cfg.DataDir+"/index.db is locked by the running recorder",
			"check it with: systemctl status cctv",
			"to read the index directly, stop the recorder first: systemctl stop cctv")
	case errors.Is(err, store.ErrSchema):
		return nil, failed(err, "the recording index was written by another version of cctv: "+err.Error(),
			"run the cctv version that wrote it, or ask the supplier to migrate it")
	default:
		return nil, failed(err, "open the store: "+err.Error())
	}
}

// loadKey loads the box signing key named in the config.
func loadKey(cfg *config.Config) (*boxkey.Key, error) {
	key, err := boxkey.Load(cfg.KeyFile)
	switch {
	case err == nil:
		return key, nil
	case errors.Is(err, boxkey.ErrNotFound):
		return nil, failed(err, "no signing key at "+cfg.KeyFile, "create it with: cctv keys init")
	default:
		return nil, failed(err, "load the signing key: "+err.Error())
	}
}
