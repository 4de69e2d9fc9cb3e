package daemon

import (
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/store"
)

// retentionPassLimit bounds one deletion batch.
const retentionPassLimit = 1000

// retentionPolicy is the configuration's retention, per camera.
func retentionPolicy(cfg *config.Config) store.RetentionPolicy {
	p := store.RetentionPolicy{Default: cfg.Retention.Duration, PerCamera: map[string]time.Duration{}}
	for _, c := range cfg.Cameras {
		if c.Retention.Duration > 0 {
			p.PerCamera[string(c.ID)] = c.Retention.Duration
		}
	}
	return p
}

// planRetention says what the next retention pass would delete, and what it
// keeps because of a hold.
func (s *service) planRetention(now time.Time) (api.RetentionPlan, error) {
	out := api.RetentionPlan{Now: now.UTC(), Delete: []api.RetentionSegment{}, KeptHeld: []api.RetentionSegment{}}
	paused, why, _, err := s.st.DeletionPaused()
	if err != nil {
		return out, err
	}
	out.Paused, out.Why = paused, why
	p := retentionPolicy(s.cfg)
	cands, err := s.st.RetentionCandidates(now, p, retentionPassLimit)
	if err != nil {
		return out, err
	}
	holds, err := s.st.Holds(false)
	if err != nil {
		return out, err
	}
	for _, d := range store.PlanRetention(cands, holds, now, p) {
		seg := api.RetentionSegment{Camera: d.Segment.Camera, File: d.Segment.Path, Start: d.Segment.Start.UTC(), End: d.Segment.End.UTC(), Bytes: d.Segment.Bytes, Reason: d.Reason}
		if d.Delete {
			out.Delete = append(out.Delete, seg)
		} else {
			out.KeptHeld = append(out.KeptHeld, seg)
		}
	}
	return out, nil
}

// verifyAudit checks the audit log against the box key.
func (s *service) verifyAudit() (api.AuditVerify, error) {
	v, err := s.key.NoteVerifier(s.cfg.BoxID)
	if err != nil {
		return api.AuditVerify{}, err
	}
	rep, err := s.st.VerifyAudit(v)
	if err != nil {
		return api.AuditVerify{}, err
	}
	out := api.AuditVerify{OK: len(rep.Problems) == 0, Entries: rep.Entries, Checkpoints: rep.Checkpoints, Problems: rep.Problems}
	if out.Problems == nil {
		out.Problems = []store.AuditProblem{}
	}
	if seq, ok := rep.FirstBad(); ok {
		out.FirstBad = &seq
	}
	return out, nil
}
