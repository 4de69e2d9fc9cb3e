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
