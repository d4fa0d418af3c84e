package base

import (
	"fmt"
	"strings"
)

// RedlockScheme starts an Options.Addr that lists independent Redlock
// nodes: "redlock://host1:6379,host2:6379,host3:6379".
const RedlockScheme = "redlock://"

// RedlockNodes returns the node addresses of Options in Redlock mode (Nodes,
// or an Addr in the redlock:// form), or nil when o is not in Redlock mode.
func RedlockNodes(o Options) ([]string, bool, error) {
	var nodes []string
	switch {
	case len(o.Nodes) > 0:
		nodes = o.Nodes
	case strings.HasPrefix(o.Addr, RedlockScheme):
		rest := strings.TrimPrefix(o.Addr, RedlockScheme)
		if rest == "" {
			return nil, true, fmt.Errorf("%w %q: no node after %q", ErrInvalidAddress, o.Addr, RedlockScheme)
		}
		nodes = strings.Split(rest, ",")
	default:
		return nil, false, nil
	}
	out := make([]string, len(nodes))
	for i, n := range nodes {
		n = strings.TrimSpace(n)
		if n == "" {
			return nil, true, fmt.Errorf("%w: empty Redlock node address in %q", ErrInvalidAddress, strings.Join(nodes, ","))
		}
		out[i] = n
	}
	return out, true, nil
}
