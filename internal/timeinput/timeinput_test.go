package timeinput

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // tests must not depend on the host's zone database
)

func london(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestParse(t *testing.T) {
	loc := london(t)
	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{"rfc3339 utc", "2026-11-22T14:05:00Z", utc("2026-11-22T14:05:00Z")},
		{"rfc3339 lowercase", "2026-11-22t14:05:00z", utc("2026-11-22T14:05:00Z")},
		{"rfc3339 offset", "2026-11-22T14:05:00+01:00", utc("2026-11-22T13:05:00Z")},
		{"rfc3339 negative offset", "2026-11-22T14:05:00-05:30", utc("2026-11-22T19:35:00Z")},
		{"rfc3339 fraction", "2026-11-22T14:05:00.25Z", utc("2026-11-22T14:05:00.25Z")},
		{"rfc3339 nanoseconds", "2026-11-22T14:05:00.123456789Z", utc("2026-11-22T14:05:00.123456789Z")},
		{"offset without seconds", "2026-11-22T14:05+00:00", utc("2026-11-22T14:05:00Z")},
		{"offset with space", "2026-11-22 14:05:00+01:00", utc("2026-11-22T13:05:00Z")},
		{"local winter (GMT)", "2026-11-22 14:05", utc("2026-11-22T14:05:00Z")},
		{"local summer (BST)", "2026-07-01 14:05:10", utc("2026-07-01T13:05:10Z")},
		{"local with T", "2026-07-01T14:05:10", utc("2026-07-01T13:05:10Z")},
		{"local with fraction", "2026-07-01 14:05:10.5", utc("2026-07-01T13:05:10.5Z")},
		{"surrounding space", "  2026-11-22 14:05  ", utc("2026-11-22T14:05:00Z")},
		{"leap day", "2028-02-29 12:00", utc("2028-02-29T12:00:00Z")},
		// Around the spring transition, 2026-03-29 01:00 GMT → 02:00 BST.
		{"just before spring gap", "2026-03-29 00:59:59", utc("2026-03-29T00:59:59Z")},
		{"just after spring gap", "2026-03-29 02:00", utc("2026-03-29T01:00:00Z")},
		{"spring gap with offset", "2026-03-29T01:30:00+00:00", utc("2026-03-29T01:30:00Z")},
		// Around the autumn transition, 2026-10-25 02:00 BST → 01:00 GMT.
		{"just before autumn overlap", "2026-10-25 00:59:59", utc("2026-10-24T23:59:59Z")},
		{"just after autumn overlap", "2026-10-25 02:00", utc("2026-10-25T02:00:00Z")},
		{"autumn overlap as BST", "2026-10-25T01:30:00+01:00", utc("2026-10-25T00:30:00Z")},
		{"autumn overlap as GMT", "2026-10-25T01:30:00+00:00", utc("2026-10-25T01:30:00Z")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in, loc)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tc.in, err)
			}
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("Parse(%q) = %v, want %v in UTC", tc.in, got, tc.want)
			}
		})
	}
}

func TestParse_NilLocationIsUTC(t *testing.T) {
	got, err := Parse("2026-07-01 14:05", nil)
	if err != nil || !got.Equal(utc("2026-07-01T14:05:00Z")) {
		t.Errorf("Parse = %v, %v", got, err)
	}
}

func TestParse_Errors(t *testing.T) {
	loc := london(t)
	tests := []struct {
		name string
		in   string
		msg  string // substring of Msg
		hint string // substring of Hint
	}{
		{
			name: "ambiguous autumn",
			in:   "2026-10-25 01:30",
			msg:  "2026-10-25 01:30:00 happens twice in Europe/London, when the clocks go back",
			hint: "give an explicit offset: 2026-10-25T01:30:00+01:00 (BST) or 2026-10-25T01:30:00+00:00 (GMT)",
		},
		{
			name: "ambiguous autumn start of hour",
			in:   "2026-10-25T01:00:00",
			msg:  "happens twice",
			hint: "2026-10-25T01:00:00+01:00 (BST) or 2026-10-25T01:00:00+00:00 (GMT)",
		},
		{
			name: "ambiguous autumn with fraction",
			in:   "2026-10-25 01:59:59.5",
			msg:  "2026-10-25 01:59:59.5 happens twice",
			hint: "2026-10-25T01:59:59.5+01:00 (BST) or 2026-10-25T01:59:59.5+00:00 (GMT)",
		},
		{
			name: "missing spring",
			in:   "2026-03-29 01:30",
			msg:  "2026-03-29 01:30:00 does not exist in Europe/London: the clocks go forward from 01:00 to 02:00",
			hint: "give an explicit offset, e.g. 2026-03-29T01:30:00+00:00, or a time from 02:00",
		},
		{
			name: "missing spring start of hour",
			in:   "2026-03-29 01:00",
			msg:  "does not exist",
		},
		{"empty", "", "empty", "RFC 3339"},
		{"blank", "   ", "empty", ""},
		{"garbage", "yesterday", "not a date and time", ""},
		{"date only", "2026-11-22", "a time of day is needed", `"2026-11-22 14:05"`},
		{"bad separator", "2026-11-22_14:05", "followed by a space or T", ""},
		{"slashes", "2026/11/22 14:05", "YYYY-MM-DD", ""},
		{"bad month", "2026-13-01 00:00", "2026-13-01 is not a day of the calendar", ""},
		{"bad day", "2026-02-29 00:00", "not a day of the calendar", ""},
		{"day zero", "2026-02-00 00:00", "not a day of the calendar", ""},
		{"hour 24", "2026-02-01 24:00", "24:00:00 is not a time of day", ""},
		{"minute 60", "2026-02-01 12:60", "not a time of day", ""},
		{"leap second", "2026-12-31T23:59:60Z", "not a time of day", ""},
		{"short hour", "2026-02-01 1:05", "HH:MM", ""},
		{"trailing junk", "2026-02-01 12:05 pm", `unexpected " pm"`, ""},
		{"bad offset", "2026-02-01T12:05:00+25:00", `bad offset "+25:00"`, ""},
		{"offset without colon", "2026-02-01T12:05:00+0100", "unexpected", ""},
		{"empty fraction", "2026-02-01T12:05:00.Z", "1 to 9 digits", ""},
		{"long fraction", "2026-02-01T12:05:00.1234567890Z", "1 to 9 digits", ""},
		{"signed year", "+2026-02-01 12:05", "YYYY-MM-DD", ""},
		{"beyond year 9999 in UTC", "9999-12-31T23:00:00-05:00", "out of range", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in, loc)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("Parse(%q) = %v, %v; want *Error", tc.in, got, err)
			}
			if te.Input != tc.in {
				t.Errorf("Input = %q, want %q", te.Input, tc.in)
			}
			if !strings.Contains(te.Msg, tc.msg) {
				t.Errorf("Msg = %q, want it to contain %q", te.Msg, tc.msg)
			}
			if !strings.Contains(te.Hint, tc.hint) {
				t.Errorf("Hint = %q, want it to contain %q", te.Hint, tc.hint)
			}
			if !got.IsZero() {
				t.Errorf("time = %v on error", got)
			}
		})
	}
}

func TestError_Error(t *testing.T) {
	_, err := Parse("2026-10-25 01:30", london(t))
	want := `bad time "2026-10-25 01:30": 2026-10-25 01:30:00 happens twice in Europe/London, when the clocks go back; ` +
		`give an explicit offset: 2026-10-25T01:30:00+01:00 (BST) or 2026-10-25T01:30:00+00:00 (GMT)`
	if err == nil || err.Error() != want {
		t.Errorf("Error() =\n%v\nwant\n%s", err, want)
	}
}

// TestParse_OtherZones checks zones whose transitions are not on the hour
// or not one hour long.
func TestParse_OtherZones(t *testing.T) {
	tests := []struct {
		name, zone, in string
		want           string // RFC 3339 result, or "" for an error
		msg            string
	}{
		{"new york gap", "America/New_York", "2026-03-08 02:30", "", "does not exist in America/New_York: the clocks go forward from 02:00 to 03:00"},
		{"new york overlap", "America/New_York", "2026-11-01 01:30", "", "happens twice"},
		{"new york normal", "America/New_York", "2026-11-01 03:30", "2026-11-01T08:30:00Z", ""},
		{"lord howe half hour gap", "Australia/Lord_Howe", "2026-10-04 02:15", "", "from 02:00 to 02:30"},
		{"lord howe half hour overlap", "Australia/Lord_Howe", "2026-04-05 01:45", "", "happens twice"},
		{"utc never ambiguous", "UTC", "2026-10-25 01:30", "2026-10-25T01:30:00Z", ""},
		// Samoa skipped 2011-12-30 entirely.
		{"apia skipped day", "Pacific/Apia", "2011-12-30 12:00", "", "does not exist"},
		{"far future", "Europe/London", "9999-07-01 12:00", "9999-07-01T11:00:00Z", ""},
		{"year zero", "Europe/London", "0000-01-01 00:00", "0000-01-01T00:01:15Z", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc, err := time.LoadLocation(tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(tc.in, loc)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("Parse(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.msg)
				}
				return
			}
			if err != nil || !got.Equal(utc(tc.want)) {
				t.Fatalf("Parse(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseClock(t *testing.T) {
	loc := london(t)
	day := func(s string) time.Time { return utc(s) }
	tests := []struct {
		name string
		in   string
		day  time.Time
		want string // RFC 3339, or "" for an error
		msg  string
	}{
		{"summer", "14:05:10", day("2026-07-01T12:00:00Z"), "2026-07-01T13:05:10Z", ""},
		{"winter", "14:05", day("2026-11-22T12:00:00Z"), "2026-11-22T14:05:00Z", ""},
		{"millis", "14:05:10.250", day("2026-11-22T12:00:00Z"), "2026-11-22T14:05:10.25Z", ""},
		// 23:30 UTC on 30 June is already 1 July in London.
		{"local day differs from UTC day", "00:10", day("2026-06-30T23:30:00Z"), "2026-06-30T23:10:00Z", ""},
		{"explicit offset", "01:30+00:00", day("2026-10-25T12:00:00Z"), "2026-10-25T01:30:00Z", ""},
		{"ambiguous", "01:30", day("2026-10-25T12:00:00Z"), "", "2026-10-25T01:30:00+01:00 (BST) or 2026-10-25T01:30:00+00:00 (GMT)"},
		{"missing", "01:30", day("2026-03-29T12:00:00Z"), "", "does not exist in Europe/London"},
		{"bad", "2pm", day("2026-03-29T12:00:00Z"), "", "HH:MM"},
		{"empty", "", day("2026-03-29T12:00:00Z"), "", "HH:MM"},
		{"bad range", "25:00", day("2026-03-29T12:00:00Z"), "", "not a time of day"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseClock(tc.in, tc.day, loc)
			if tc.want == "" {
				var te *Error
				if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.msg) || te.Input != tc.in {
					t.Fatalf("ParseClock(%q) = %v, %v; want *Error containing %q", tc.in, got, err, tc.msg)
				}
				return
			}
			if err != nil || !got.Equal(utc(tc.want)) || got.Location() != time.UTC {
				t.Fatalf("ParseClock(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}
