package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/council/cctv/internal/version"
	"github.com/council/cctv/store"
)

// Housekeeping thresholds (SPEC 5).
const (
	// jumpPause is the forward clock jump after which deletion pauses.
	jumpPause = time.Hour
	// jumpUndone is how close the clock must come back to count as undone.
	jumpUndone = 2 * time.Second
	// pressureHysteresis is freed beyond min_free, so deletion does not run
	// on every segment once the disk is full.
	pressureHysteresis = 0.01
	// foldEvery is how often disposal records past disposal_grace are
	// folded into daily summaries, foldPassLimit how many at most per pass.
	foldEvery     = time.Hour
	foldPassLimit = 200_000
)

// housekeeper deletes what retention and disk pressure require, every
// deletion interval and whenever the recorder reports a full disk. It pauses
// deletion when the clock cannot be trusted: retention must never delete
// because the clock jumped.
type housekeeper struct {
	s    *service
	kick chan struct{}

	// The box clock against the monotonic clock since start: drift is how
	// far the wall clock has moved beyond elapsed time.
	wall0, mono0 time.Time
	lastDrift    time.Duration
	jumpBase     time.Duration // drift before the jump that paused deletion
	pausedByJump bool
	lastFold     time.Time // of disposal records into daily summaries
}

func newHousekeeper(s *service) *housekeeper {
	return &housekeeper{s: s, kick: make(chan struct{}, 1), wall0: s.clock.Now().Round(0), mono0: time.Now()}
}

// kickNow asks for a pass as soon as possible (the disk filled up).
func (h *housekeeper) kickNow() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *housekeeper) run(ctx context.Context) {
	t := time.NewTicker(h.s.cfg.DeletionInterval.Duration)
	defer t.Stop()
	for {
		h.pass()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
	}
}

// drift is how far the wall clock has moved beyond the monotonic clock
// since the daemon started.
func (h *housekeeper) drift() time.Duration {
	return h.s.clock.Now().Round(0).Sub(h.wall0) - time.Since(h.mono0)
}

func (h *housekeeper) pass() {
	s, st := h.s, h.s.st
	now := s.clock.Now()
	drift := h.drift()
	step := drift - h.lastDrift
	h.lastDrift = drift

	switch {
	case now.Before(version.BuildTime()):
		h.pause("the box clock reads %s, before this software was built (%s)", now.UTC().Format(time.RFC3339), version.BuildDate)
	case step > jumpPause:
		h.jumpBase = drift - step
		h.pausedByJump = true
		h.pause("the box clock jumped forward by %s", step.Round(time.Second))
	case h.pausedByJump && abs(drift-h.jumpBase) < jumpUndone:
		h.pausedByJump = false
		if err := st.ConfirmTime(actorOf(s.self)); err != nil {
			s.log.Error("resume deletion after the clock jump was undone", "err", err)
		} else {
			s.log.Info("the clock jump was undone: deletion resumes")
		}
	}
	if paused, _, _, err := st.DeletionPaused(); err != nil || paused {
		return
	}

	policy := retentionPolicy(s.cfg)
	for {
		deleted, _, err := st.ApplyRetention(now, policy, retentionPassLimit)
		if err != nil {
			if !errors.Is(err, store.ErrDeletionPaused) {
				s.log.Error("retention pass", "err", err)
			}
			return
		}
		if len(deleted) > 0 {
			s.log.Info("retention deleted expired footage", "segments", len(deleted))
		}
		if len(deleted) < retentionPassLimit {
			break
		}
	}
	h.relievePressure(now)
	h.keepReserve()
	// Disposal records past their grace fold into daily summaries, so the
	// index stops growing with every deleted segment: hourly, a day's worth
	// of a busy box at most per pass.
	if now.Sub(h.lastFold) < foldEvery && !h.lastFold.IsZero() {
		return
	}
	h.lastFold = now
	if n, err := st.FoldDisposals(now, s.cfg.DisposalGrace.Duration, foldPassLimit); err != nil {
		s.log.Error("fold disposal records into daily summaries", "err", err)
	} else if n > 0 {
		s.log.Info("folded disposal records into daily summaries", "records", n)
	}
}

// relievePressure deletes the oldest unheld footage while free space is
// below min_free.
func (h *housekeeper) relievePressure(now time.Time) {
	s := h.s
	u, err := s.diskUse()
	if err != nil || u.total == 0 {
		return
	}
	room, want := u.footageRoom(), int64(s.cfg.MinFree.Fraction()*float64(u.total))
	if room >= want {
		return
	}
	free := u.free
	need := int64((s.cfg.MinFree.Fraction()+pressureHysteresis)*float64(u.total)) - room
	deleted, err := s.st.ApplyPressure(need, now, retentionPassLimit)
	if err != nil && !errors.Is(err, store.ErrDeletionPaused) {
		s.log.Error("disk pressure deletion", "err", err)
	}
	if len(deleted) > 0 {
		s.log.Warn("ALERT: disk pressure: deleted the oldest footage early", "segments", len(deleted), "free_bytes", free, "needed_bytes", need)
	} else if err == nil {
		s.log.Error("ALERT: disk full and nothing can be deleted (only held footage left): recording will fail", "free_bytes", free)
	}
}

// keepReserve makes the data disk's reserve again (store/reserve.go) once
// disk pressure has made room for it above min_free.
func (h *housekeeper) keepReserve() {
	s := h.s
	u, err := s.diskUse()
	if err != nil || u.total == 0 {
		return
	}
	if made, err := s.st.EnsureReserve(uint64(s.cfg.MinFree.Fraction() * float64(u.total))); err != nil {
		s.log.Error("the data disk's reserve", "err", err)
	} else if made {
		s.log.Info("the data disk's reserve is made again: the disk-full alert clears")
	}
}

func (h *housekeeper) pause(format string, args ...any) {
	reason := fmt.Sprintf(format, args...)
	if paused, _, _, err := h.s.st.DeletionPaused(); err == nil && paused {
		return
	}
	if err := h.s.st.PauseDeletion(reason); err != nil {
		h.s.log.Error("pause deletion", "err", err)
		return
	}
	h.s.log.Error("ALERT: deletion paused: "+reason+"; a supervisor confirms the clock with: cctv time confirm", "reason", reason)
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
