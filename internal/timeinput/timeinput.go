// Package timeinput parses the times people type on the command line
// (--from, --to, --at, --still).
//
// Accepted forms:
//
//	2026-11-22T14:05:00Z               RFC 3339, UTC
//	2026-11-22T14:05:00.250+01:00      RFC 3339 with an offset and a fraction
//	2026-11-22 14:05                   local time in the configured zone
//	2026-11-22 14:05:10, 2026-11-22T14:05:10
//
// Guarantees: a local time is never guessed. A local time that happens
// twice (when the clocks go back) or not at all (when they go forward) is
// refused with an *Error that says so and shows how to write it with an
// explicit offset. Every returned time is in UTC. Parse and ParseClock
// never panic.
package timeinput

import (
	"fmt"
	"strings"
	"time"
)

// Error describes input that is not an acceptable time.
type Error struct {
	Input string // what the user typed
	Msg   string // what is wrong, lowercase
	Hint  string // what to type instead; may be empty
}

// Error returns `bad time "INPUT": MSG`, followed by "; HINT" when there is
// a hint.
func (e *Error) Error() string {
	s := fmt.Sprintf("bad time %q: %s", e.Input, e.Msg)
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

const formatHint = `use RFC 3339 ("2026-11-22T14:05:00Z", "2026-11-22T14:05:00+01:00") or "YYYY-MM-DD HH:MM[:SS]" in local time`

// Parse parses s as an RFC 3339 time (with "Z" or a numeric offset,
// seconds and fraction optional) or as a local "YYYY-MM-DD HH:MM[:SS]"
// (space or "T" between date and time, no offset) in loc. A nil loc means
// UTC. The result is in UTC.
func Parse(s string, loc *time.Location) (time.Time, error) {
	in := strings.TrimSpace(s)
	fail := func(msg, hint string) (time.Time, error) {
		return time.Time{}, &Error{Input: s, Msg: msg, Hint: hint}
	}
	if in == "" {
		return fail("empty", formatHint)
	}
	if len(in) < 10 {
		return fail("not a date and time", formatHint)
	}
	y, mo, d, ok := parseDate(in[:10])
	if !ok {
		return fail("the date must be YYYY-MM-DD", formatHint)
	}
	rest := in[10:]
	if rest == "" {
		return fail("a time of day is needed after the date", `add one, e.g. "`+in[:10]+` 14:05"`)
	}
	switch rest[0] {
	case 'T', 't', ' ':
		rest = strings.TrimLeft(rest[1:], " ")
	default:
		return fail("the date must be followed by a space or T and the time", formatHint)
	}
	c, err := parseClock(rest)
	if err != "" {
		return fail(err, formatHint)
	}
	if !validDate(y, mo, d) {
		return fail(fmt.Sprintf("%s is not a day of the calendar", in[:10]), "check the day and month")
	}
	return resolve(s, y, mo, d, c, loc)
}

// ParseClock parses a bare time of day, "HH:MM[:SS[.fff]]", optionally
// followed by "Z" or an offset, on the calendar day that day falls on in
// loc (nil means UTC). The same rules as Parse apply to clock changes. The
// result is in UTC.
func ParseClock(s string, day time.Time, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	c, err := parseClock(strings.TrimSpace(s))
	if err != "" {
		return time.Time{}, &Error{Input: s, Msg: err, Hint: `use "HH:MM", "HH:MM:SS" or "HH:MM:SS.mmm", e.g. "14:05:10"`}
	}
	y, mo, d := day.In(loc).Date()
	return resolve(s, y, int(mo), d, c, loc)
}

// clock is a parsed time of day with an optional offset.
type clock struct {
	h, m, s, ns int
	hasZone     bool
	offset      int // seconds east of UTC, when hasZone
}

// parseDate parses exactly "YYYY-MM-DD"; ranges are checked later.
func parseDate(s string) (y, m, d int, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	return y, m, d, ok1 && ok2 && ok3
}

func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return t.Day() == d
}

// parseClock parses "HH:MM[:SS[.frac]][Z|±HH:MM]". It returns a message
// saying what is wrong, or "".
func parseClock(s string) (clock, string) {
	var c clock
	const bad = "the time of day must be HH:MM or HH:MM:SS"
	if len(s) < 5 || s[2] != ':' {
		return c, bad
	}
	var ok1, ok2 bool
	c.h, ok1 = digits(s[0:2])
	c.m, ok2 = digits(s[3:5])
	if !ok1 || !ok2 {
		return c, bad
	}
	s = s[5:]
	if len(s) > 0 && s[0] == ':' {
		if len(s) < 3 {
			return c, bad
		}
		var ok bool
		if c.s, ok = digits(s[1:3]); !ok {
			return c, bad
		}
		s = s[3:]
		if len(s) > 0 && s[0] == '.' {
			i := 1
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			frac := s[1:i]
			if frac == "" || len(frac) > 9 {
				return c, "the fraction of a second must have 1 to 9 digits"
			}
			f, _ := digits(frac)
			for range 9 - len(frac) {
				f *= 10
			}
			c.ns = f
			s = s[i:]
		}
	}
	switch {
	case s == "":
	case s == "Z" || s == "z":
		c.hasZone = true
	case (s[0] == '+' || s[0] == '-') && len(s) == 6 && s[3] == ':':
		oh, ok1 := digits(s[1:3])
		om, ok2 := digits(s[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return c, fmt.Sprintf("bad offset %q: use ±HH:MM, e.g. +01:00", s)
		}
		c.hasZone = true
		c.offset = oh*3600 + om*60
		if s[0] == '-' {
			c.offset = -c.offset
		}
	default:
		return c, fmt.Sprintf("unexpected %q after the time: an offset must be Z or ±HH:MM", s)
	}
	if c.h > 23 || c.m > 59 || c.s > 59 {
		return c, fmt.Sprintf("%02d:%02d:%02d is not a time of day", c.h, c.m, c.s)
	}
	return c, ""
}

// digits parses a non-empty string of ASCII digits (at most 9).
func digits(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// resolve turns a calendar date and clock into an instant. With an offset
// that is exact; without one the wall time must occur exactly once in loc.
func resolve(input string, y, mo, d int, c clock, loc *time.Location) (time.Time, error) {
	t, err := resolveLocal(input, y, mo, d, c, loc)
	if err != nil {
		return time.Time{}, err
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, &Error{Input: input, Msg: "out of range: in UTC it falls outside the years 0000 to 9999"}
	}
	return t, nil
}

func resolveLocal(input string, y, mo, d int, c clock, loc *time.Location) (time.Time, error) {
	if c.hasZone {
		return time.Date(y, time.Month(mo), d, c.h, c.m, c.s, c.ns, time.FixedZone("", c.offset)).UTC(), nil
	}
	if loc == nil {
		loc = time.UTC
	}
	// wall is the typed wall-clock reading expressed as if it were UTC.
	wall := time.Date(y, time.Month(mo), d, c.h, c.m, c.s, c.ns, time.UTC)
	periods := zonePeriods(wall, loc)

	var found []time.Time
	for _, p := range periods {
		u := wall.Add(-time.Duration(p.offset) * time.Second)
		if sameWall(u.In(loc), wall) && !containsTime(found, u) {
			found = append(found, u)
		}
	}
	shown := wall.Format("2006-01-02 15:04:05")
	if c.ns != 0 {
		shown = wall.Format("2006-01-02 15:04:05.999999999")
	}
	switch len(found) {
	case 1:
		return found[0].UTC(), nil
	case 0:
		msg := fmt.Sprintf("%s does not exist in %s", shown, loc)
		hint := "give an explicit offset, e.g. " + rfc3339(wall, c.ns, periods[0].offset)
		if from, to, ok := gap(wall, periods, loc); ok {
			msg += fmt.Sprintf(": the clocks go forward from %s to %s", from, to)
			hint = fmt.Sprintf("give an explicit offset, e.g. %s, or a time from %s", rfc3339(wall, c.ns, gapOffset(wall, periods)), to)
		}
		return time.Time{}, &Error{Input: input, Msg: msg, Hint: hint}
	default:
		var forms []string
		for _, u := range found {
			z := u.In(loc)
			name, off := z.Zone()
			f := rfc3339(wall, c.ns, off)
			if name != "" && !strings.HasPrefix(name, "+") && !strings.HasPrefix(name, "-") {
				f += " (" + name + ")"
			}
			forms = append(forms, f)
		}
		msg := fmt.Sprintf("%s happens twice in %s, when the clocks go back", shown, loc)
		return time.Time{}, &Error{Input: input, Msg: msg, Hint: "give an explicit offset: " + strings.Join(forms, " or ")}
	}
}

// rfc3339 formats the wall time with the given offset, always showing the
// offset numerically ("+00:00", not "Z").
func rfc3339(wall time.Time, ns, offset int) string {
	layout := "2006-01-02T15:04:05-07:00"
	if ns != 0 {
		layout = "2006-01-02T15:04:05.999999999-07:00"
	}
	return time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), ns,
		time.FixedZone("", offset)).Format(layout)
}

type period struct {
	start  time.Time // first instant of the period; zero for "since forever"
	offset int       // seconds east of UTC
}

// zonePeriods lists the zone periods of loc that overlap the instants
// within 36 hours of wall (taken as UTC): wide enough to include every
// offset, up to ±14h, that could put a wall-clock reading on that day.
func zonePeriods(wall time.Time, loc *time.Location) []period {
	from, to := wall.Add(-36*time.Hour), wall.Add(36*time.Hour)
	var ps []period
	cur := from
	for range 16 { // zones change at most a few times in three days
		z := cur.In(loc)
		_, off := z.Zone()
		start, end := z.ZoneBounds()
		if len(ps) > 0 {
			start = cur
		}
		ps = append(ps, period{start: start, offset: off})
		if end.IsZero() || !end.Before(to) || !end.After(cur) {
			break
		}
		cur = end
	}
	return ps
}

// gap finds the forward transition that skips wall, and returns the wall
// clock readings it jumps from and to.
func gap(wall time.Time, ps []period, loc *time.Location) (from, to string, ok bool) {
	for i := 1; i < len(ps); i++ {
		a, b := ps[i-1].offset, ps[i].offset
		if b <= a {
			continue
		}
		t := ps[i].start
		before := t.Add(time.Duration(a) * time.Second).UTC() // wall reading just before, as UTC
		after := t.Add(time.Duration(b) * time.Second).UTC()
		if !wall.Before(before) && wall.Before(after) {
			return before.Format("15:04"), after.Format("15:04"), true
		}
	}
	return "", "", false
}

// gapOffset returns the offset in force before the gap that skips wall.
func gapOffset(wall time.Time, ps []period) int {
	for i := 1; i < len(ps); i++ {
		a, b := ps[i-1].offset, ps[i].offset
		t := ps[i].start
		if b > a && !wall.Before(t.Add(time.Duration(a)*time.Second)) && wall.Before(t.Add(time.Duration(b)*time.Second)) {
			return a
		}
	}
	return ps[0].offset
}

func sameWall(t, wall time.Time) bool {
	y1, m1, d1 := t.Date()
	y2, m2, d2 := wall.Date()
	return y1 == y2 && m1 == m2 && d1 == d2 && t.Hour() == wall.Hour() && t.Minute() == wall.Minute() &&
		t.Second() == wall.Second() && t.Nanosecond() == wall.Nanosecond()
}

func containsTime(ts []time.Time, u time.Time) bool {
	for _, t := range ts {
		if t.Equal(u) {
			return true
		}
	}
	return false
}
