package chaos

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// hello is the first line a worker sends: it names the connection's process.
const hello Kind = "hello"

// Reporter sends a worker process's events to the parent's [Collector], one
// JSON line each, synchronously: an event is on its way before the call
// returns, so an Exit is sent before the lock is released. Safe for
// concurrent use.
type Reporter struct {
	proc int
	mu   sync.Mutex
	conn net.Conn
	w    *bufio.Writer
	enc  *json.Encoder
}

// DialReporter connects to the collector at addr as process proc.
func DialReporter(addr string, proc int) (*Reporter, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("chaos: dialling the collector: %w", err)
	}
	w := bufio.NewWriter(conn)
	r := &Reporter{proc: proc, conn: conn, w: w, enc: json.NewEncoder(w)}
	if err := r.Send(Event{Kind: hello}); err != nil {
		conn.Close()
		return nil, err
	}
	return r, nil
}

// Send reports e, stamped with the reporter's process and, when e.At is 0,
// the current time.
func (r *Reporter) Send(e Event) error {
	e.Proc = r.proc
	if e.At == 0 {
		e.At = time.Now().UnixNano()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.enc.Encode(e); err != nil {
		return fmt.Errorf("chaos: reporting: %w", err)
	}
	if err := r.w.Flush(); err != nil {
		return fmt.Errorf("chaos: reporting: %w", err)
	}
	return nil
}

// Close ends the connection.
func (r *Reporter) Close() error { return r.conn.Close() }

// Collector receives the events of worker processes and records them in a
// Checker.
//
// Goroutines: NewCollector starts the accept loop, which starts one reader
// per connection; Close stops the loop, closes the connections and waits
// for all of them.
type Collector struct {
	c  *Checker
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	gone  map[int]chan struct{} // closed when a process's connection has ended
}

// NewCollector listens on a free loopback port.
func NewCollector(c *Checker) (*Collector, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: collector: %w", err)
	}
	col := &Collector{c: c, ln: ln, conns: make(map[net.Conn]struct{}), gone: make(map[int]chan struct{})}
	col.wg.Add(1)
	go col.accept()
	return col, nil
}

// Addr returns the address workers report to.
func (col *Collector) Addr() string { return col.ln.Addr().String() }

func (col *Collector) accept() {
	defer col.wg.Done()
	for {
		conn, err := col.ln.Accept()
		if err != nil {
			return // closed
		}
		col.mu.Lock()
		col.conns[conn] = struct{}{}
		col.mu.Unlock()
		col.wg.Add(1)
		go col.read(conn)
	}
}

// read records one connection's events until it ends.
func (col *Collector) read(conn net.Conn) {
	defer col.wg.Done()
	defer func() {
		conn.Close()
		col.mu.Lock()
		delete(col.conns, conn)
		col.mu.Unlock()
	}()
	dec := json.NewDecoder(bufio.NewReader(conn))
	proc := -1
	for {
		var e Event
		if err := dec.Decode(&e); err != nil {
			// EOF, a closed connection, or half a line from a killed
			// worker: what came before it counts.
			break
		}
		if e.Kind == hello {
			proc = e.Proc
			continue
		}
		col.c.Record(e)
	}
	if proc >= 0 {
		close(col.goneChan(proc))
	}
}

func (col *Collector) goneChan(proc int) chan struct{} {
	col.mu.Lock()
	defer col.mu.Unlock()
	ch := col.gone[proc]
	if ch == nil {
		ch = make(chan struct{})
		col.gone[proc] = ch
	}
	return ch
}

// Gone returns a channel closed once proc's connection has ended and every
// event it carried is recorded.
func (col *Collector) Gone(proc int) <-chan struct{} { return col.goneChan(proc) }

// Close stops accepting, ends the open connections and waits for the
// readers.
func (col *Collector) Close() error {
	err := col.ln.Close()
	col.mu.Lock()
	for conn := range col.conns {
		conn.Close()
	}
	col.mu.Unlock()
	col.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
