package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Actor is who did something, for holds and confirmations (the daemon fills
// it from the socket peer's credentials).
type Actor struct {
	User string `json:"user"`
	UID  int    `json:"uid"`
}

// AllCameras is the Hold.Camera of a hold on every camera.
const AllCameras = "all"

// DefaultHoldReview is how long after placing a hold its review falls due
// when AddHold is given no review date.
const DefaultHoldReview = 90 * 24 * time.Hour

// Hold is a legal hold: footage of Camera (or every camera) overlapping
// [From, To) is never deleted while the hold is in force (not Released), by
// retention, disk pressure or DisposeSegment. A hold past its Review date
// stays in force (Overdue); only ReleaseHold ends it.
type Hold struct {
	ID       string    `json:"id"`     // "H-0001", …: short, stable, never reused
	Camera   string    `json:"camera"` // camera id or "all"
	From     time.Time `json:"from"`   // UTC
	To       time.Time `json:"to"`     // UTC, after From
	Case     string    `json:"case"`
	Reason   string    `json:"reason"`
	Review   time.Time `json:"review"` // default PlacedAt + 90 days
	PlacedBy Actor     `json:"placed_by"`
	PlacedAt time.Time `json:"placed_at"`

	Released      bool      `json:"released,omitempty"`
	ReleasedBy    Actor     `json:"released_by,omitzero"`
	ReleasedAt    time.Time `json:"released_at,omitzero"`
	ReleaseReason string    `json:"release_reason,omitempty"`
	// SingleSupervisor: the release was made by the supervisor who placed
	// the hold, under the single-supervisor switch.
	SingleSupervisor bool `json:"single_supervisor,omitempty"`
}

// Covers reports whether the hold is in force and footage of camera spanning
// [from, to) overlaps its window (an instant from == to counts when it lies
// in [From, To)).
func (h Hold) Covers(camera string, from, to time.Time) bool {
	if h.Released || (h.Camera != AllCameras && h.Camera != camera) {
		return false
	}
	return overlaps(from, to, h.From, h.To)
}

// Overdue reports whether the hold is in force and past its review date: it
// still protects its footage, and status raises an alert.
func (h Hold) Overdue(now time.Time) bool {
	return !h.Released && !h.Review.IsZero() && now.After(h.Review)
}

// AddHold places a hold. It checks that To is after From, that Case and
// Reason are not empty and that Camera is a valid camera id or "all"
// (ErrInvalidHold otherwise), assigns ID, PlacedBy = by, PlacedAt = now and,
// if Review is zero, Review = PlacedAt + 90 days; fields about release are
// ignored. The hold and its audit entry "hold.add" (by by) commit in one
// transaction; the hold protects footage from that commit on.
func (s *Store) AddHold(h Hold, by Actor) (Hold, error) {
	h, err := s.prepareHold(h, by)
	if err != nil {
		return Hold{}, err
	}
	if err := s.update("add hold", func(tx *bolt.Tx) error { return s.putHold(tx, &h, by) }); err != nil {
		return Hold{}, err
	}
	return h, nil
}

// prepareHold checks and completes a hold to add (see AddHold).
func (s *Store) prepareHold(h Hold, by Actor) (Hold, error) {
	h.Case, h.Reason = strings.TrimSpace(h.Case), strings.TrimSpace(h.Reason)
	var problems []string
	if h.Camera != AllCameras {
		if err := ValidCamera(h.Camera); err != nil {
			problems = append(problems, err.Error()+` (or "all")`)
		}
	}
	if h.From.IsZero() || h.To.IsZero() || !h.To.After(h.From) {
		problems = append(problems, "the window needs a start and an end after it")
	}
	if h.Case == "" {
		problems = append(problems, "a case reference is required")
	}
	if h.Reason == "" {
		problems = append(problems, "a reason (legal basis) is required")
	}
	if len(problems) > 0 {
		return Hold{}, fmt.Errorf("add hold: %s: %w", strings.Join(problems, "; "), ErrInvalidHold)
	}
	now := s.clock.Now().UTC().Round(0)
	h.From, h.To = h.From.UTC().Round(0), h.To.UTC().Round(0)
	h.PlacedBy, h.PlacedAt = by, now
	if h.Review.IsZero() {
		h.Review = now.Add(DefaultHoldReview)
	}
	h.Review = h.Review.UTC().Round(0)
	h.Released, h.ReleasedBy, h.ReleasedAt, h.ReleaseReason, h.SingleSupervisor = false, Actor{}, time.Time{}, "", false
	return h, nil
}

// putHold stores a prepared hold under a new ID, with its audit entry, in tx.
func (s *Store) putHold(tx *bolt.Tx, h *Hold, by Actor) error {
	b, err := tx.CreateBucketIfNotExists(bktHolds)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	h.ID = fmt.Sprintf("H-%04d", seq)
	if err := putJSON(b, []byte(h.ID), *h); err != nil {
		return err
	}
	_, err = s.appendAudit(tx, actorEntry(s.auditAction("hold.add",
		"id", h.ID, "camera", h.Camera, "from", fmtTime(h.From), "to", fmtTime(h.To),
		"case", h.Case, "reason", h.Reason, "review", fmtTime(h.Review)), by))
	return err
}

// Holds returns the holds in force, or with includeReleased every hold, in
// the order they were placed.
func (s *Store) Holds(includeReleased bool) ([]Hold, error) {
	var out []Hold
	err := s.view("holds", func(tx *bolt.Tx) error {
		all, err := allHolds(tx)
		for _, h := range all {
			if includeReleased || !h.Released {
				out = append(out, h)
			}
		}
		return err
	})
	return out, err
}

// ReleaseHold ends hold id, with reason, by by. It refuses with ErrNotFound
// (no such hold), ErrReleased, ErrNoReason (empty reason) and ErrSamePerson
// when by has the UID of whoever placed it, unless allowSameSupervisor (the
// single-supervisor switch), in which case the hold records
// SingleSupervisor and its audit entry says single_supervisor=true. The
// release and its audit entry "hold.release" commit in one transaction.
// Releasing deletes nothing: the footage goes when retention next finds it
// expired.
func (s *Store) ReleaseHold(id, reason string, by Actor, allowSameSupervisor bool) (Hold, error) {
	var h Hold
	err := s.update("release hold "+id, func(tx *bolt.Tx) error {
		var err error
		h, err = s.releaseHold(tx, id, reason, by, allowSameSupervisor)
		return err
	})
	if err != nil {
		return Hold{}, err
	}
	return h, nil
}

// releaseHold is ReleaseHold inside tx.
func (s *Store) releaseHold(tx *bolt.Tx, id, reason string, by Actor, allowSameSupervisor bool) (Hold, error) {
	reason = strings.TrimSpace(reason)
	var h Hold
	b := tx.Bucket(bktHolds)
	found := false
	if b != nil {
		var err error
		if found, err = getJSON(b, []byte(id), &h); err != nil {
			return h, err
		}
	}
	switch {
	case !found:
		return h, ErrNotFound
	case h.Released:
		return h, ErrReleased
	case reason == "":
		return h, ErrNoReason
	case by.UID == h.PlacedBy.UID && !allowSameSupervisor:
		return h, ErrSamePerson
	}
	h.Released, h.ReleasedBy, h.ReleaseReason = true, by, reason
	h.ReleasedAt = s.clock.Now().UTC().Round(0)
	h.SingleSupervisor = by.UID == h.PlacedBy.UID
	if err := putJSON(b, []byte(id), h); err != nil {
		return h, err
	}
	single := ""
	if h.SingleSupervisor {
		single = "true"
	}
	_, err := s.appendAudit(tx, actorEntry(s.auditAction("hold.release",
		"id", h.ID, "camera", h.Camera, "case", h.Case, "reason", reason,
		"placed_by", h.PlacedBy.User+" (uid "+strconv.Itoa(h.PlacedBy.UID)+")",
		"single_supervisor", single), by))
	return h, err
}

// actorEntry attributes e to by, if by names someone.
func actorEntry(e AuditEntry, by Actor) AuditEntry {
	if by.User != "" {
		e.User, e.UID = by.User, by.UID
	}
	return e
}

func allHolds(tx *bolt.Tx) ([]Hold, error) {
	b := tx.Bucket(bktHolds)
	if b == nil {
		return nil, nil
	}
	var out []Hold
	err := b.ForEach(func(k, v []byte) error {
		var h Hold
		if err := json.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("decode hold %q: %w", k, err)
		}
		out = append(out, h)
		return nil
	})
	// IDs grow in length past H-9999: order by length, then bytes.
	slices.SortStableFunc(out, func(a, b Hold) int {
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), strings.Compare(a.ID, b.ID))
	})
	return out, err
}

// activeHolds returns the holds in force.
func activeHolds(tx *bolt.Tx) ([]Hold, error) {
	all, err := allHolds(tx)
	out := all[:0]
	for _, h := range all {
		if !h.Released {
			out = append(out, h)
		}
	}
	return out, err
}

// holdFor returns the first hold in force covering the footage.
func holdFor(holds []Hold, camera string, from, to time.Time) (Hold, bool) {
	for _, h := range holds {
		if h.Covers(camera, from, to) {
			return h, true
		}
	}
	return Hold{}, false
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
