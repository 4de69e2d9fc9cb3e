package recorder

import "net"

// SetListenPacketForTest replaces the UDP listen of sessions started from
// now on (nil: the real one again).
func SetListenPacketForTest(fn func(network, address string) (net.PacketConn, error)) {
	if fn == nil {
		listenPacketForTest.Store(nil)
		return
	}
	listenPacketForTest.Store(&fn)
}

// SetTestOnlyBeforeWrite sets a hook run on a camera's writer before each
// frame is written, and returns a function that removes it.
func SetTestOnlyBeforeWrite(f func(camera string)) (restore func()) {
	testOnlyBeforeWrite = f
	return func() { testOnlyBeforeWrite = nil }
}

// SetTestOnlyBeforeCreate sets a hook run just before each segment's file
// is created, where the creation runs (an error fails the creation), and
// returns a function that removes it.
func SetTestOnlyBeforeCreate(f func(camera string) error) (restore func()) {
	testOnlyBeforeCreate = f
	return func() { testOnlyBeforeCreate = nil }
}
