package export

import "github.com/council/cctv/store"

// CheckSealed reads a recorded segment once and refuses it (wrapping
// ErrSealMismatch) unless its size and SHA-256 are still those of its
// seal: what a viewer is shown is the footage as sealed.
func CheckSealed(s store.Segment) error { return checkSealed(s) }
