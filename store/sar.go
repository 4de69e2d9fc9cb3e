package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bktSARs holds subject access requests by reference (JSON SAR).
var bktSARs = []byte("sars")

// Errors of the subject access request register.
var (
	// ErrInvalidSAR: a request to open is malformed (reference, subject,
	// received date, cameras or window).
	ErrInvalidSAR = errors.New("invalid subject access request")
	// ErrSARExists: a request with that reference is already registered.
	ErrSARExists = errors.New("a subject access request with that reference exists")
	// ErrSARClosed: the request was already closed.
	ErrSARClosed = errors.New("subject access request already closed")
)

// SAR is a subject access request: a person's request for footage of
// themselves. Opening it places a legal hold on that footage at once (one
// per camera), so it cannot roll off while the request is open; closing it
// releases them. Its response is due one calendar month after it was
// received (DueDate).
type SAR struct {
	Ref      string    `json:"ref"`      // the council's reference, e.g. "SAR-2026-014"
	Subject  string    `json:"subject"`  // description of the person, to find them in the footage
	Received time.Time `json:"received"` // when the request arrived
	Due      time.Time `json:"due"`      // DueDate(Received)
	Cameras  []string  `json:"cameras"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Holds    []string  `json:"holds"` // IDs of the holds it placed
	OpenedBy Actor     `json:"opened_by"`
	OpenedAt time.Time `json:"opened_at"`

	Closed   bool      `json:"closed,omitempty"`
	ClosedBy Actor     `json:"closed_by,omitzero"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
	Outcome  string    `json:"outcome,omitempty"`
}

// refRE is what a SAR reference may look like: it goes into file names.
var refRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`)

// DueDate is one calendar month after received, in loc: the same day of the
// next month, or its last day when it has no such day (received 31 January:
// due 28 or 29 February), at the end of that day.
func DueDate(received time.Time, loc *time.Location) time.Time {
	r := received.In(loc)
	y, m, d := r.Date()
	first := time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	last := first.AddDate(0, 1, -1).Day()
	day := time.Date(y, m+1, min(d, last), 0, 0, 0, 0, loc)
	return day.AddDate(0, 0, 1).Add(-time.Second).UTC()
}

// OpenSAR registers r, opened by by, and places one hold per camera over its
// window (case r.Ref, reason "subject access request <ref>"), all in one
// transaction with their audit entries ("sar.open" and each "hold.add"):
// from that commit on the footage cannot be deleted. Due is set from
// Received in loc. It refuses a malformed request (ErrInvalidSAR) and a
// reference already used (ErrSARExists).
func (s *Store) OpenSAR(r SAR, by Actor, loc *time.Location) (SAR, error) {
	r.Ref, r.Subject = strings.TrimSpace(r.Ref), strings.TrimSpace(r.Subject)
	var problems []string
	if !refRE.MatchString(r.Ref) {
		problems = append(problems, "the reference must be 1 to 64 letters, digits, '.', '_', '/' or '-'")
	}
	if r.Subject == "" {
		problems = append(problems, "a description of the person is required")
	}
	now := s.clock.Now()
	if r.Received.IsZero() || r.Received.After(now.Add(time.Minute)) {
		problems = append(problems, "the date the request was received is required and cannot be in the future")
	}
	if len(r.Cameras) == 0 {
		problems = append(problems, "at least one camera is required")
	}
	for _, c := range r.Cameras {
		if err := ValidCamera(c); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if r.From.IsZero() || !r.To.After(r.From) {
		problems = append(problems, "the window needs a start and an end after it")
	}
	if len(problems) > 0 {
		return SAR{}, fmt.Errorf("open subject access request: %s: %w", strings.Join(problems, "; "), ErrInvalidSAR)
	}
	r.Received = r.Received.UTC().Round(0)
	r.Due = DueDate(r.Received, loc)
	r.From, r.To = r.From.UTC().Round(0), r.To.UTC().Round(0)
	r.OpenedBy, r.OpenedAt = by, now.UTC().Round(0)
	r.Holds, r.Closed, r.ClosedBy, r.ClosedAt, r.Outcome = nil, false, Actor{}, time.Time{}, ""
	var holds []Hold
	for _, c := range r.Cameras {
		h, err := s.prepareHold(Hold{Camera: c, From: r.From, To: r.To, Case: r.Ref,
			Reason: "subject access request " + r.Ref, Review: r.Due}, by)
		if err != nil {
			return SAR{}, fmt.Errorf("open subject access request: %w", err)
		}
		holds = append(holds, h)
	}
	err := s.update("open subject access request "+r.Ref, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bktSARs)
		if err != nil {
			return err
		}
		if b.Get([]byte(r.Ref)) != nil {
			return ErrSARExists
		}
		for i := range holds {
			if err := s.putHold(tx, &holds[i], by); err != nil {
				return err
			}
			r.Holds = append(r.Holds, holds[i].ID)
		}
		if err := putJSON(b, []byte(r.Ref), r); err != nil {
			return err
		}
		_, err = s.appendAudit(tx, actorEntry(s.auditAction("sar.open",
			"ref", r.Ref, "received", fmtTime(r.Received), "due", fmtTime(r.Due), "cameras", strings.Join(r.Cameras, ","),
			"from", fmtTime(r.From), "to", fmtTime(r.To), "holds", strings.Join(r.Holds, ",")), by))
		return err
	})
	if err != nil {
		return SAR{}, err
	}
	return r, nil
}

// SARs returns the open requests, or with includeClosed every one, oldest
// received first.
func (s *Store) SARs(includeClosed bool) ([]SAR, error) {
	var out []SAR
	err := s.view("subject access requests", func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSARs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r SAR
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode subject access request %q: %w", k, err)
			}
			if includeClosed || !r.Closed {
				out = append(out, r)
			}
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b SAR) int { return a.Received.Compare(b.Received) })
	return out, err
}

// SARByRef returns one request (ErrNotFound if there is none).
func (s *Store) SARByRef(ref string) (SAR, error) {
	var r SAR
	err := s.view("subject access request "+ref, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSARs)
		found := false
		if b != nil {
			var err error
			if found, err = getJSON(b, []byte(ref), &r); err != nil {
				return err
			}
		}
		if !found {
			return ErrNotFound
		}
		return nil
	})
	return r, err
}

// CloseSAR ends request ref with its outcome, by by, releasing its holds
// under the holds' rules (a supervisor other than the one who placed them,
// unless allowSameSupervisor; ErrSamePerson otherwise) in one transaction
// with the audit entries ("sar.close", each "hold.release"). A hold already
// released by hand is left as it is. ErrNotFound, ErrSARClosed, ErrNoReason
// (empty outcome).
func (s *Store) CloseSAR(ref, outcome string, by Actor, allowSameSupervisor bool) (SAR, error) {
	outcome = strings.TrimSpace(outcome)
	var r SAR
	err := s.update("close subject access request "+ref, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktSARs)
		found := false
		if b != nil {
			var err error
			if found, err = getJSON(b, []byte(ref), &r); err != nil {
				return err
			}
		}
		switch {
		case !found:
			return ErrNotFound
		case r.Closed:
			return ErrSARClosed
		case outcome == "":
			return ErrNoReason
		}
		for _, id := range r.Holds {
			_, err := s.releaseHold(tx, id, "subject access request "+ref+" closed: "+outcome, by, allowSameSupervisor)
			if err != nil && !errors.Is(err, ErrReleased) {
				return err
			}
		}
		r.Closed, r.ClosedBy, r.ClosedAt, r.Outcome = true, by, s.clock.Now().UTC().Round(0), outcome
		if err := putJSON(b, []byte(ref), r); err != nil {
			return err
		}
		_, err := s.appendAudit(tx, actorEntry(s.auditAction("sar.close", "ref", r.Ref, "outcome", outcome,
			"holds", strings.Join(r.Holds, ",")), by))
		return err
	})
	if err != nil {
		return SAR{}, err
	}
	return r, nil
}
