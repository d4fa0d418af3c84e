package redistest

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// StartSentinel starts a Redis Sentinel on a free loopback port that
// monitors master under name (quorum 1), and waits until it reports the
// master's address. Cleanup stops it.
func StartSentinel(tb testing.TB, name string, master *Server) *Server {
	tb.Helper()
	return StartSentinelDownAfter(tb, name, master, 5*time.Second)
}

// StartSentinelDownAfter is StartSentinel with the time the master may go
// unanswered before the Sentinel presumes it down and fails over to a
// replica; failover tests set it short. Start the Sentinel after the
// replicas are connected: it learns of them from the master's first INFO.
func StartSentinelDownAfter(tb testing.TB, name string, master *Server, downAfter time.Duration) *Server {
	tb.Helper()
	host, port := "127.0.0.1", strconv.Itoa(master.Port())
	conf := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 10000\n",
		name, host, port, name, downAfter.Milliseconds(), name)
	s := Start(tb, func(c *config) { c.sentinel = conf })
	want := host + "\n" + port
	deadline := time.Now().Add(10 * time.Second)
	for {
		reply, err := Command(s.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
		if err == nil && reply == want {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: sentinel on %s does not report %s at %s:%s: %q, %v", s.Addr(), name, host, port, reply, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}
