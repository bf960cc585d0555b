//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package aiodb

import "net"

// pending cannot look at the socket on this platform; pgx's own ping of
// connections idle for a second is the only check.
func pending(net.Conn) bool { return false }
