// Package version holds the software version and build date, stamped by the
// Makefile through -ldflags and falling back to the values below.
package version

import "time"

// Version is the software version printed by `cctv version` and carried in
// seals and evidence packages.
var Version = "0.1.0-dev"

// BuildDate is the day this software was built (YYYY-MM-DD). A box clock
// earlier than this is plainly wrong, and footage recorded while it is so is
// marked time-untrusted.
var BuildDate = "2026-11-23"

// BuildTime returns BuildDate as a time at midnight UTC, or the zero time if
// BuildDate does not parse.
func BuildTime() time.Time {
	t, err := time.Parse("2006-01-02", BuildDate)
	if err != nil {
		return time.Time{}
	}
	return t
}
