//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package aiodb

import (
	"errors"
	"net"
	"syscall"
)

// pending reports whether c, a connection nobody is reading, has data or
// EOF waiting. It peeks without blocking and without consuming: pgx may
// have a background reader parked in Read on the same socket (its
// bgreader, after a slow write), which holds the descriptor's read lock, so
// this must not read through net.Conn or RawConn.Read; Control takes no lock.
func pending(c net.Conn) bool {
	if t, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
		c = t.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var rerr error
	err = rc.Control(func(fd uintptr) {
		var buf [1]byte
		n, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	if err != nil {
		return false
	}
	if errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK) || errors.Is(rerr, syscall.EINTR) {
		return false
	}
	return n > 0 || rerr == nil // data, or EOF (n == 0); another error: the socket is broken
}
