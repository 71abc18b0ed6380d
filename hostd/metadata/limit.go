package metadata

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// MaxConnsPerAsker is how many connections one asker (one instance's interface: the datapath
// gives each its own source address) may hold open to the service at once. Each is a descriptor
// and a goroutine of the daemon, charged to no guest's cgroup: without a bound, one guest opening
// connections faster than the timeouts close them starves the daemon that serves every tenant.
const MaxConnsPerAsker = 32

// LimitPerAsker wraps ln so that an asker's connections past max are closed as soon as they are
// accepted; the others, and every other asker's, are served as before.
func LimitPerAsker(ln net.Listener, max int) net.Listener {
	return &askerLimit{Listener: ln, max: max, open: map[string]int{}}
}

type askerLimit struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[string]int // by the asker's address
}

func (l *askerLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		asker, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		full := l.open[asker] >= l.max
		if !full {
			l.open[asker]++
		}
		l.mu.Unlock()
		if full {
			c.Close()
			continue
		}
		return &countedConn{Conn: c, done: func() { l.release(asker) }}, nil
	}
}

func (l *askerLimit) release(asker string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[asker]--; l.open[asker] == 0 {
		delete(l.open, asker)
	}
}

// countedConn gives its asker's place back once, at its first Close.
type countedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.done)
	return err
}

// SyscallConn is the TCP connection's own: the token's answer sets its TTL (the hop limit).
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
