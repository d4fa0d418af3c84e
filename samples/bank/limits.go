package main

import (
	"net"
	"sync"
	"time"
)

// Limits bound what clients can hold of the server: every one has a flag,
// and the zero value of a field means its default below.
type Limits struct {
	// ReadTimeout bounds reading a whole request, body included, so a body
	// sent half or trickled a byte at a time is cut. Default 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its answer; it must outlast the longest handler (a lock wait of
	// 10s, a stress run). Default 60s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for this
	// long. Default 60s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers. Default 16 KiB.
	MaxHeaderBytes int
	// MaxConns caps the connections open at once; more wait in the kernel's
	// accept queue until one closes. Default 1024, and never more than the
	// process's open-file limit less 64 (for Redis connections, logs...),
	// so that the server never fails accept with "too many open files".
	MaxConns int
}

// Defaults of Limits.
const (
	defaultReadTimeout       = 10 * time.Second
	defaultWriteTimeout      = 60 * time.Second
	defaultIdleTimeout       = 60 * time.Second
	defaultMaxHeaderBytes    = 16 << 10
	defaultMaxConns          = 1024
	readHeaderTimeout        = 5 * time.Second
	descriptorsForEverything = 64
)

// withDefaults fills in the zero fields; openFiles is the descriptor limit
// (0: unknown).
func (l Limits) withDefaults(openFiles uint64) Limits {
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = defaultReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = defaultWriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = defaultIdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = defaultMaxConns
	}
	if openFiles > 2*descriptorsForEverything && uint64(l.MaxConns) > openFiles-descriptorsForEverything {
		l.MaxConns = int(openFiles - descriptorsForEverything)
	}
	return l
}

// limitListener accepts at most cap(slots) connections open at once: Accept
// takes a slot before it accepts, a connection's Close gives it back.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
