// Package clock abstracts the wall clock so that time-dependent code (backoff,
// clock-jump detection, retention) can be tested without sleeping.
package clock

import (
	"sync/atomic"
	"time"
)

// Clock tells the time and waits. Times returned by Now carry a monotonic
// reading when the implementation is Real, so t.Sub measures elapsed time
// even when the wall clock is stepped.
type Clock interface {
	Now() time.Time
	// After waits for d to elapse and then sends the current time.
	After(d time.Duration) <-chan time.Time
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Shifted is the system clock moved by an offset that can be changed while
// it runs, as when an administrator or a bad NTP server steps the box clock.
// Its readings carry no monotonic part, like a wall clock read after a step.
// The zero value is the system clock.
type Shifted struct {
	offset atomic.Int64
}

// Shift moves the clock by d (negative: backwards).
func (s *Shifted) Shift(d time.Duration) { s.offset.Add(int64(d)) }

// Now returns the system time plus the offset.
func (s *Shifted) Now() time.Time {
	return time.Now().Round(0).Add(time.Duration(s.offset.Load()))
}

// After returns time.After(d): waiting is measured in real elapsed time.
func (s *Shifted) After(d time.Duration) <-chan time.Time { return time.After(d) }
