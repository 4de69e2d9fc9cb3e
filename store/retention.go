package store

import (
	"fmt"
	"strings"
	"time"
)

// RetentionPolicy says how long footage is kept: a segment expires once
// its end is at least its camera's retention before now. A retention of
// zero or less keeps the camera's footage for ever (never deleted by
// retention; disk pressure still applies).
type RetentionPolicy struct {
	Default   time.Duration
	PerCamera map[string]time.Duration // overrides Default for a camera
}

// For returns camera's retention.
func (p RetentionPolicy) For(camera string) time.Duration {
	if d, ok := p.PerCamera[camera]; ok {
		return d
	}
	return p.Default
}

// min returns the shortest retention that deletes anything (0 if none does).
func (p RetentionPolicy) min() time.Duration {
	m := p.Default
	for _, d := range p.PerCamera {
		if d > 0 && (m <= 0 || d < m) {
			m = d
		}
	}
	return max(m, 0)
}

// Decision is what retention or disk pressure does with one segment, and
// why, in English, e.g. "ended 2026-10-23 14:00 UTC, older than 30d
// retention" or "held by H-0003 (case WMP-1)".
type Decision struct {
	Segment Segment
	Delete  bool
	Reason  string
}

// PlanRetention decides, for each candidate in order, whether retention
// deletes it: it is deleted if its end is at least its camera's retention
// before now (a segment ending exactly at the boundary goes) and it overlaps
// no hold in force; released holds are ignored, and holds past their review
// date still protect. It is a pure function of its arguments: no I/O, no
// clock. It returns one decision per candidate, in the candidates' order.
func PlanRetention(candidates []Segment, holds []Hold, now time.Time, p RetentionPolicy) []Decision {
	out := make([]Decision, 0, len(candidates))
	for _, g := range candidates {
		d := Decision{Segment: g}
		r := p.For(g.Camera)
		switch expires := g.End.Add(r); {
		case r <= 0:
			d.Reason = "no retention limit for camera " + g.Camera
		case expires.After(now):
			d.Reason = fmt.Sprintf("ended %s, within %s retention (expires %s)", fmtMinute(g.End), fmtDuration(r), fmtMinute(expires))
		default:
			if why := heldBy(holds, g); why != "" {
				d.Reason = why
				break
			}
			d.Delete = true
			d.Reason = fmt.Sprintf("ended %s, older than %s retention", fmtMinute(g.End), fmtDuration(r))
		}
		out = append(out, d)
	}
	return out
}

// heldBy names every hold in force covering g: "held by H-0003 (case
// WMP-1), H-0007 (case X)", or "" if none does.
func heldBy(holds []Hold, g Segment) string {
	var names []string
	for _, h := range holds {
		if h.Covers(g.Camera, g.Start, g.End) {
			names = append(names, fmt.Sprintf("%s (case %s)", h.ID, h.Case))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "held by " + strings.Join(names, ", ")
}

func fmtMinute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// fmtDuration writes whole days as "30d", whole hours as "36h", else Go's form.
func fmtDuration(d time.Duration) string {
	switch {
	case d > 0 && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d > 0 && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
