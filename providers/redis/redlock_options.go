package redis

import (
	"fmt"
	"strings"
	"time"
)

// RedlockScheme starts an Options.Addr that lists independent Redlock
// nodes: "redlock://host1:6379,host2:6379,host3:6379".
const RedlockScheme = "redlock://"

// maxDefaultNodeTimeout caps the default Options.NodeTimeout.
const maxDefaultNodeTimeout = time.Second

// redlockSettings are the provider settings plus what only Redlock uses.
type redlockSettings struct {
	settings
	nodeTimeout time.Duration
	// drift is the allowance for clocks that run at different rates on the
	// client and the nodes: a lease is vouched for until TTL - drift after
	// the request that obtained or extended it was sent.
	drift time.Duration
}

func (o *Options) redlockSettings() (redlockSettings, error) {
	s, err := o.settings()
	if err != nil {
		return redlockSettings{}, err
	}
	rs := redlockSettings{settings: s, drift: s.driftMargin()}
	if o != nil {
		rs.nodeTimeout = o.NodeTimeout
	}
	if rs.nodeTimeout == 0 {
		rs.nodeTimeout = min(s.ttl/10, maxDefaultNodeTimeout)
	}
	if rs.nodeTimeout <= 0 || rs.nodeTimeout >= s.ttl-rs.drift {
		return rs, fmt.Errorf("%w: NodeTimeout %s must be positive and shorter than TTL %s minus the clock drift allowance %s", errBadOptions, rs.nodeTimeout, s.ttl, rs.drift)
	}
	// An extension must be able to start, and answer, before the lease it
	// extends is no longer vouched for.
	if s.refresh+rs.nodeTimeout >= s.ttl-rs.drift {
		return rs, fmt.Errorf("%w: RefreshInterval %s plus NodeTimeout %s must be shorter than TTL %s minus the clock drift allowance %s", errBadOptions, s.refresh, rs.nodeTimeout, s.ttl, rs.drift)
	}
	return rs, nil
}

// redlockNodes returns the node addresses of Options in Redlock mode (Nodes,
// or an Addr in the redlock:// form), or nil when o is not in Redlock mode.
func redlockNodes(o Options) ([]string, bool, error) {
	var nodes []string
	switch {
	case len(o.Nodes) > 0:
		nodes = o.Nodes
	case strings.HasPrefix(o.Addr, RedlockScheme):
		rest := strings.TrimPrefix(o.Addr, RedlockScheme)
		if rest == "" {
			return nil, true, fmt.Errorf("%w %q: no node after %q", errBadAddr, o.Addr, RedlockScheme)
		}
		nodes = strings.Split(rest, ",")
	default:
		return nil, false, nil
	}
	out := make([]string, len(nodes))
	for i, n := range nodes {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, true, fmt.Errorf("%w: empty Redlock node address in %q", errBadAddr, strings.Join(nodes, ","))
		}
		out[i] = n
	}
	return out, true, nil
}
