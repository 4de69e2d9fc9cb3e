package daemon

import (
	"errors"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/store"
)

func holdOut(h store.Hold, now time.Time) api.Hold {
	return api.Hold{
		ID: h.ID, Camera: h.Camera, From: h.From.UTC(), To: h.To.UTC(), Case: h.Case, Reason: h.Reason,
		Review: h.Review.UTC(), Overdue: h.Overdue(now), PlacedBy: h.PlacedBy.User, PlacedAt: h.PlacedAt.UTC(),
		Released: h.Released, ReleasedBy: h.ReleasedBy.User, ReleasedAt: h.ReleasedAt.UTC(),
		ReleaseReason: h.ReleaseReason, SingleSupervisor: h.SingleSupervisor,
	}
}

// holdError explains the store's refusals to a person.
func (s *service) holdError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrSamePerson):
		return failed("a hold is released by a different supervisor from the one who placed it (two-person rule)",
			"ask another member of group "+s.cfg.Access.Supervisor+" to release it",
			"a site with a single supervisor can set single_supervisor_release = true in the config (the audit log records its use)")
	case errors.Is(err, store.ErrNoReason):
		return badInput("releasing a hold needs a reason", `add --reason "…"`)
	case errors.Is(err, store.ErrNotFound):
		return badInput("no such hold", "see the holds with: cctv hold list")
	case errors.Is(err, store.ErrReleased):
		return failed("that hold was already released", "see it with: cctv hold list --all")
	default:
		var ae *api.Error
		if errors.As(err, &ae) {
			return ae
		}
		return badInput("hold: " + err.Error())
	}
}

// holds lists the holds in force, or all of them.
func (s *service) holds(all bool) ([]api.Hold, error) {
	hs, err := s.st.Holds(all)
	if err != nil {
		return nil, err
	}
	out := []api.Hold{}
	now := time.Now()
	for _, h := range hs {
		out = append(out, holdOut(h, now))
	}
	return out, nil
}
