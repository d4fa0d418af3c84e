package chaos

import (
	"fmt"
	"strings"
	"testing"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// Cluster is the rig of a run: independent Redis nodes that the faults
// reach, each behind a [Proxy], and a store node that no fault reaches.
type Cluster struct {
	Nodes   []*redistest.Server
	Proxies []*Proxy
	Store   *redistest.Server
}

// persistentArgs make a node append every write to its log and fsync it
// before answering, so a node killed and restarted still knows its locks
// and fencing counters: what the Redlock analysis asks of a node that comes
// back at once, instead of staying down for a lease.
var persistentArgs = []string{"--appendonly", "yes", "--appendfsync", "always"}

// StartCluster starts n nodes (persistent or not), a proxy in front of
// each, and the store node; tb's cleanup stops them all.
func StartCluster(tb testing.TB, n int, persistent bool) *Cluster {
	tb.Helper()
	var opts []redistest.Option
	if persistent {
		opts = append(opts, redistest.WithArgs(persistentArgs...))
	}
	c := &Cluster{Store: redistest.Start(tb)}
	for i := range n {
		s := redistest.Start(tb, opts...)
		c.Nodes = append(c.Nodes, s)
		c.Proxies = append(c.Proxies, StartProxy(tb, fmt.Sprintf("node%d", i), s.Addr()))
	}
	return c
}

// ProxyAddrs returns the addresses through which clients reach the nodes.
func (c *Cluster) ProxyAddrs() []string {
	out := make([]string, len(c.Proxies))
	for i, p := range c.Proxies {
		out[i] = p.Addr()
	}
	return out
}

// NodeAddrs returns the nodes' own addresses, past the proxies.
func (c *Cluster) NodeAddrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr()
	}
	return out
}

// RedlockAddr returns the "redlock://" address of the nodes through their
// proxies.
func (c *Cluster) RedlockAddr() string {
	return "redlock://" + strings.Join(c.ProxyAddrs(), ",")
}
