package timeinput

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that failures are *Error, and
// that an accepted time is UTC and reads back to the same instant both in
// RFC 3339 and as a local time in the zone.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"2026-11-22T14:05:00Z",
		"2026-11-22T14:05:00+01:00",
		"2026-11-22T14:05:00.123456789-05:30",
		"2026-11-22 14:05",
		"2026-11-22 14:05:10",
		"2026-11-22T14:05:10",
		"2026-10-25 01:30",
		"2026-03-29 01:30",
		"2026-02-29 00:00",
		"0000-01-01 00:00",
		"9999-12-31T23:59:59.999999999-23:59",
		"2026-11-22 24:00",
		"",
		"2026-11-22T14:05:00.Z",
	} {
		f.Add(s, "Europe/London")
	}
	f.Add("2026-03-08 02:30", "America/New_York")
	f.Add("2026-10-04 02:15", "Australia/Lord_Howe")
	f.Add("2011-12-30 12:00", "Pacific/Apia")
	f.Fuzz(func(t *testing.T, s, zone string) {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			loc = time.UTC
		}
		got, err := Parse(s, loc)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) || te.Msg == "" || te.Input != s {
				t.Fatalf("Parse(%q) error %v is not a proper *Error", s, err)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("Parse(%q) = %v, not UTC", s, got)
		}
		back, err := Parse(got.Format(time.RFC3339Nano), loc)
		if err != nil || !back.Equal(got) {
			t.Fatalf("Parse(%q) = %v; RFC 3339 round trip gives %v, %v", s, got, back, err)
		}
		// The local reading of an accepted time is unambiguous, so it parses
		// back to the same instant (years 0..9999 only: outside that, the
		// layout cannot be written).
		local := got.In(loc)
		if y := local.Year(); y >= 0 && y <= 9999 {
			back, err = Parse(local.Format("2006-01-02 15:04:05.999999999"), loc)
			if err != nil || !back.Equal(got) {
				t.Fatalf("Parse(%q) = %v; local round trip via %q gives %v, %v", s, got, local.Format("2006-01-02 15:04:05.999999999"), back, err)
			}
		}
		if _, err := ParseClock(s, got, loc); err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("ParseClock error %v is not *Error", err)
			}
		}
	})
}
