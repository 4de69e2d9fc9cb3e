package recorder

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/council/cctv/internal/clock"
)

// backoff is a capped exponential delay with jitter (×0.5–1.5), so that many
// cameras that dropped together do not reconnect in lockstep.
type backoff struct {
	min, max time.Duration
	clock    clock.Clock
	next     time.Duration
}

func newBackoff(min, max time.Duration, c clock.Clock) *backoff {
	return &backoff{min: min, max: max, clock: c, next: min}
}

// Reset starts the delays again from the minimum (after a healthy period).
func (b *backoff) Reset() { b.next = b.min }

// Next returns the delay to wait now and doubles the following one.
func (b *backoff) Next() time.Duration {
	d := b.next
	b.next *= 2
	if b.next > b.max {
		b.next = b.max
	}
	jittered := time.Duration(float64(d) * (0.5 + rand.Float64()))
	if jittered > b.max {
		jittered = b.max
	}
	return jittered
}

// Sleep waits d, returning false if ctx ended first.
func (b *backoff) Sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-b.clock.After(d):
		return true
	}
}
