package backend

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// TestPending checks the idle-connection check on a real socket pair:
// nothing waiting, data waiting, EOF, and a reader parked in Read beside
// it (pgx's background reader), which must not make it wait.
func TestPending(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (client, server net.Conn) {
		t.Helper()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close(); server.Close() })
		return client, server
	}
	if runtime.GOOS != "linux" {
		t.Skipf("no socket check on %s: pgx's own idle ping is the only one", runtime.GOOS)
	}
	pending := func(c net.Conn) bool { return newSocketPeek(c).pending() }
	settle := func() { time.Sleep(50 * time.Millisecond) }

	client, server := pair()
	if pending(client) {
		t.Error("idle connection reported as having data")
	}
	server.Write([]byte("E"))
	settle()
	p := newSocketPeek(client)
	first, second := p.pending(), p.pending() // the second proves the first consumed nothing
	if !first || !second {
		t.Errorf("waiting data reported %v then %v, want true twice", first, second)
	}
	if n := testing.AllocsPerRun(100, func() { p.pending() }); n != 0 {
		t.Errorf("a check allocates %v times", n)
	}
	client.Read(make([]byte, 1))
	server.Close()
	settle()
	if !pending(client) {
		t.Error("EOF not reported")
	}

	client, _ = pair()
	client.SetReadDeadline(time.Now().Add(3 * time.Second))
	parked := make(chan struct{})
	go func() {
		defer close(parked)
		client.Read(make([]byte, 1)) // holds the socket's read lock until the deadline
	}()
	settle()
	start := time.Now()
	if pending(client) {
		t.Error("idle connection with a parked reader reported as having data")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the check waited %v for the parked reader", d)
	}
	<-parked
}
