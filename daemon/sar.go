package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/store"
)

// sarDueSoon is how close to its due date an open subject access request
// raises an alert.
const sarDueSoon = 7 * 24 * time.Hour

func sarOut(r store.SAR, now time.Time) api.SAR {
	return api.SAR{
		Ref: r.Ref, Subject: r.Subject, Received: r.Received, Due: r.Due, Overdue: !r.Closed && now.After(r.Due),
		Cameras: r.Cameras, From: r.From, To: r.To, Holds: r.Holds, OpenedBy: r.OpenedBy.User, OpenedAt: r.OpenedAt,
		Closed: r.Closed, ClosedBy: r.ClosedBy.User, ClosedAt: r.ClosedAt, Outcome: r.Outcome,
	}
}

// sars lists the open requests, or every one.
func (s *service) sars(all bool) ([]api.SAR, error) {
	rs, err := s.st.SARs(all)
	if err != nil {
		return nil, err
	}
	out := []api.SAR{}
	now := time.Now()
	for _, r := range rs {
		out = append(out, sarOut(r, now))
	}
	return out, nil
}

// sarError explains the register's refusals to a person.
func (s *service) sarError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrInvalidSAR):
		return badInput(err.Error())
	case errors.Is(err, store.ErrSARExists):
		return badInput("a subject access request with that reference is already registered", "see them with: cctv sar list --all")
	case errors.Is(err, store.ErrNotFound):
		return badInput("no such subject access request", "see them with: cctv sar list --all")
	case errors.Is(err, store.ErrSARClosed):
		return failed("that subject access request is already closed", "see it with: cctv sar list --all")
	case errors.Is(err, store.ErrNoReason):
		return badInput("closing a subject access request needs its outcome", `add --outcome "disclosed on …" or "refused: …"`)
	case errors.Is(err, store.ErrSamePerson):
		return s.holdError(err)
	default:
		return err
	}
}

// sarAlerts are the alerts for open requests due within a week or overdue.
func (s *service) sarAlerts(now time.Time) ([]string, error) {
	rs, err := s.st.SARs(false)
	if err != nil {
		return nil, fmt.Errorf("read subject access requests: %w", err)
	}
	var out []string
	for _, r := range rs {
		due := r.Due.In(s.cfg.Location).Format("2006-01-02")
		switch {
		case now.After(r.Due):
			out = append(out, fmt.Sprintf("subject access request %s is OVERDUE: it was due on %s; answer it, then close it: cctv sar close %s --outcome …", r.Ref, due, r.Ref))
		case r.Due.Sub(now) < sarDueSoon:
			out = append(out, fmt.Sprintf("subject access request %s is due on %s (in %.0f days)", r.Ref, due, r.Due.Sub(now).Hours()/24))
		}
	}
	return out, nil
}
