package recorder

import (
	"context"
	"net"
	"syscall"
)

// udpReadBuffer is the receive buffer the recorder asks for on its RTP/RTCP
// sockets. A 1080p camera at 8 Mbit/s sends a keyframe as a burst of a few
// hundred packets; the kernel's default (about 200 KiB on Debian) overflows
// when the reader is briefly descheduled, and every overflow is lost footage.
const udpReadBuffer = 8 << 20

// listenUDP opens the camera's RTP/RTCP sockets with a large receive buffer.
// It asks with SO_RCVBUFFORCE first (allowed with CAP_NET_ADMIN), then with
// SO_RCVBUF, which the kernel caps at net.core.rmem_max; the size obtained
// is logged once per camera. (gortsplib's UDPReadBufferSize refuses to
// connect at all when the kernel grants less than asked, so it is not used.)
func (c *Camera) listenUDP(network, address string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if forceRcvBuf(fd, udpReadBuffer) == nil {
				return
			}
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, udpReadBuffer)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, address)
	if err != nil {
		return nil, err
	}
	if c.udpBufLogged.CompareAndSwap(false, true) {
		if got, err := rcvBuf(pc); err == nil {
			c.log.Info("udp receive buffer", "bytes", got, "wanted", udpReadBuffer)
		}
	}
	return pc, nil
}

// rcvBuf reads back a socket's receive buffer size.
func rcvBuf(pc net.PacketConn) (int, error) {
	sc, ok := pc.(syscall.Conn)
	if !ok {
		return 0, syscall.EINVAL
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		n    int
		gerr error
	)
	if err := rc.Control(func(fd uintptr) {
		n, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil {
		return 0, err
	}
	return n, gerr
}
