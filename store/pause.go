package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pauseState is meta "deletion_paused" while deletion is paused.
type pauseState struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

func getPause(tx *bolt.Tx) (*pauseState, error) {
	raw := tx.Bucket(bktMeta).Get(keyPause)
	if raw == nil {
		return nil, nil
	}
	var p pauseState
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode deletion pause: %w", err)
	}
	return &p, nil
}

// PauseDeletion stops retention and disk-pressure deletion (they return
// ErrDeletionPaused, deleting nothing) until ConfirmTime. The daemon calls
// it after a forward clock jump of more than an hour or while the clock is
// untrusted. The pause is kept in the index, so it survives a restart, and
// is audited "deletion.pause" (param reason) in the same transaction. If
// deletion is already paused it does nothing (the first reason and time
// stay).
func (s *Store) PauseDeletion(reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return fmt.Errorf("pause deletion: %w", ErrNoReason)
	}
	return s.update("pause deletion", func(tx *bolt.Tx) error {
		p, err := getPause(tx)
		if err != nil || p != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bktMeta), keyPause, pauseState{Reason: reason, Since: s.clock.Now().UTC().Round(0)}); err != nil {
			return err
		}
		return s.auditHook(tx, s.auditAction("deletion.pause", "reason", reason))
	})
}

// DeletionPaused reports whether deletion is paused, why and since when.
func (s *Store) DeletionPaused() (paused bool, reason string, since time.Time, err error) {
	err = s.view("deletion paused", func(tx *bolt.Tx) error {
		p, err := getPause(tx)
		if p != nil {
			paused, reason, since = true, p.Reason, p.Since
		}
		return err
	})
	return paused, reason, since, err
}

// ConfirmTime records that by confirmed the box time and lifts a deletion
// pause. It is audited "time.confirm" (params paused_since, pause_reason
// when a pause was lifted) in the same transaction, also when nothing was
// paused.
func (s *Store) ConfirmTime(by Actor) error {
	return s.update("confirm time", func(tx *bolt.Tx) error {
		p, err := getPause(tx)
		if err != nil {
			return err
		}
		e := s.auditAction("time.confirm")
		if p != nil {
			e = s.auditAction("time.confirm", "paused_since", fmtTime(p.Since), "pause_reason", p.Reason)
			if err := tx.Bucket(bktMeta).Delete(keyPause); err != nil {
				return err
			}
		}
		if err := putJSON(tx.Bucket(bktMeta), keyTimeConfirmed, timeConfirmed{At: s.clock.Now().UTC().Round(0), By: by.User}); err != nil {
			return err
		}
		_, err = s.appendAudit(tx, actorEntry(e, by))
		return err
	})
}

// timeConfirmed is the last confirmation of the box clock.
type timeConfirmed struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
}

// TimeConfirmed returns when the box clock was last confirmed by a
// supervisor (cctv time confirm) and by whom; the zero time if never.
func (s *Store) TimeConfirmed() (at time.Time, by string, err error) {
	var tc timeConfirmed
	err = s.view("time confirmed", func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bktMeta), keyTimeConfirmed, &tc)
		return err
	})
	return tc.At, tc.By, err
}
