//go:build !linux

package backend

import "net"

// socketPeek cannot look at a socket on this platform: pgx's own ping of
// connections idle for a second is the only check.
type socketPeek struct{}

func newSocketPeek(net.Conn) *socketPeek { return &socketPeek{} }

func (*socketPeek) pending() bool { return false }
