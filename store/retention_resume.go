package store

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Entries are keyed by start first (segtable.go), so the entries of cameras
// with a short retention lie among the unexpired entries of the others: a
// pass that walked from the oldest entry to its cutoff would read, at 64
// cameras with one keeping 7 days and the rest 30, 23 days of every camera.
// Instead each retention pass starts where the last one stopped.
//
// retentionResume, per retention (cameras keeping footage as long share a
// walk), holds the start of the first entry the last pass left to look at
// again: everything of those cameras before it was deleted, or is held by
// a hold, and those held entries are listed by key and looked at again by
// each pass, so they are reported kept (or deleted once their hold is
// released). It lives in memory: the first pass after Open walks from the
// oldest entry. An entry added with an older start than a resume point (a
// clock set far back, a file adopted by Recover) or a change of retentions
// makes the next pass walk from the oldest entry again.
type retentionResume struct {
	policy string                   // the retentions it was made for (policyKey)
	from   map[time.Duration][]byte // retention → segments_by_start key its walk resumes at
	held   [][]byte                 // keys of held entries before their walk's resume point
}

// policyKey names the retention of every camera in cams.
func policyKey(p RetentionPolicy, cams []string) string {
	var b strings.Builder
	for _, c := range cams {
		fmt.Fprintf(&b, "%s=%d;", c, p.For(c))
	}
	return b.String()
}

// entryAdded is called after an entry that starts at start is committed
// under a new key: the next retention pass walks from the oldest entry if
// start is before a resume point.
func (s *Store) entryAdded(start time.Time) {
	if start.UnixNano() < s.resumeFloor.Load() {
		s.resumeStale.Store(true)
	}
}

// retentionGroup is the cameras keeping footage for one retention, with
// their cutoff.
type retentionGroup struct {
	cutoff time.Time
	cams   map[string]bool
}

// resumedCandidates is retentionCandidates' walk for a read-write store
// whose entries are all keyed start first: held entries listed by the last
// pass are looked at by key, then each group of cameras is walked from its
// resume point to its cutoff. It returns the next pass's resume state. visit
// is retentionCandidates' visitor (false: nothing later in this walk is
// wanted); took reports whether the last visit took a candidate (ok), and
// whether that candidate is held.
func (s *Store) resumedCandidates(tx *bolt.Tx, cams []string, p RetentionPolicy, now time.Time, visit func(k, v []byte) (bool, error), took func() (held bool, ok bool)) (*retentionResume, error) {
	t := segTableOf(tx)
	key := policyKey(p, cams)
	prev := s.resume
	if s.resumeStale.Swap(false) || prev == nil || prev.policy != key {
		prev = &retentionResume{}
	}
	groups := map[time.Duration]*retentionGroup{}
	for _, c := range cams {
		r := p.For(c)
		if r <= 0 {
			continue
		}
		g := groups[r]
		if g == nil {
			g = &retentionGroup{cutoff: now.Add(-r), cams: map[string]bool{}}
			groups[r] = g
		}
		g.cams[c] = true
	}
	next := &retentionResume{policy: key, from: map[time.Duration][]byte{}}
	// The last pass's batch is recorded by key in this pass's transaction
	// (or, if that fails, the next one's): no walk needs to meet it again.
	recording := make(map[string]bool, len(s.unrecorded))
	for _, m := range s.unrecorded {
		recording[string(m.key)] = true
	}
	for _, k := range prev.held {
		v := t.get(k)
		if v == nil {
			continue // deleted by another path
		}
		if _, err := visit(k, v); err != nil {
			return nil, err
		}
		// Kept while held, and while not taken (a pass that stopped at its
		// limit, or its deletion under way) for a later pass to look at.
		if held, ok := took(); !ok || held {
			next.held = append(next.held, k)
		}
	}
	for _, r := range slices.Sorted(maps.Keys(groups)) {
		g := groups[r]
		until := startBytes(g.cutoff.Add(1))
		var resume []byte // the first key left to look at again
		want := func(cam []byte) bool {
			s.walked++ // every key read, wanted or not
			return g.cams[string(cam)]
		}
		err := t.eachByStart(prev.from[r], until, want, func(k, sk, v []byte) (bool, error) {
			if k == nil {
				return true, nil
			}
			more, err := visit(k, v)
			if err != nil {
				return false, err
			}
			held, taken := took()
			switch {
			case resume != nil, recording[string(k)]:
			case taken && held:
				next.held = append(next.held, slices.Clone(k))
			default:
				resume = slices.Clone(sk)
			}
			return more, nil
		})
		if err != nil {
			return nil, err
		}
		if resume == nil {
			resume = until // everything before the cutoff is done (a start alone: before every key of it)
		}
		next.from[r] = resume
	}
	return next, nil
}

// setResume keeps next for the next pass and the floor below which an added
// entry makes it stale.
func (s *Store) setResume(next *retentionResume) {
	s.resume = next
	floor := int64(math.MinInt64)
	for _, b := range next.from {
		if t := keyTime(b).UnixNano(); t > floor {
			floor = t
		}
	}
	s.resumeFloor.Store(floor)
}
