package memory

import "fmt"

// DefaultShards is the number of independently locked parts the key map is
// split into when no [WithShards] option is given. Each shard takes 128
// bytes (a cache line pair of its own), 128 KB in all. So many shards keep
// goroutines that lock distinct keys on distinct shards most of the time:
// with 64 keys held in turn by each of two goroutines, a key shares its shard
// with one of the other goroutine's keys about 6% of the time (63% with 64
// shards), and a shared shard's mutex and table move between the cores'
// caches on every grant.
const DefaultShards = 1024

// Option configures a [Provider] made by [New] or [WithInMemoryDistributedLocking].
type Option interface {
	apply(*config)
	// String names the option and its value, for logs and error messages.
	String() string
}

type config struct {
	shards   int
	instance string
}

func defaultConfig() config { return config{shards: DefaultShards} }

type shardsOption int

func (o shardsOption) apply(c *config) { c.shards = int(o) }
func (o shardsOption) String() string  { return fmt.Sprintf("memory.WithShards(%d)", int(o)) }

// WithShards splits the key map into n parts, each with its own mutex, so
// goroutines locking different keys rarely wait for each other's map access.
// n is rounded up to a power of two; n < 1 means 1 (a single mutex). The
// default is [DefaultShards].
func WithShards(n int) Option { return shardsOption(n) }

// roundShards returns the power of two at or above n, at least 1 and at most
// 1<<16 (more shards than that only waste memory).
func roundShards(n int) int {
	s := 1
	for s < n && s < 1<<16 {
		s <<= 1
	}
	return s
}

type instanceOption string

func (o instanceOption) apply(c *config) { c.instance = string(o) }
func (o instanceOption) String() string  { return fmt.Sprintf("memory.WithInstance(%q)", string(o)) }

// WithInstance names this process in the holders the provider records
// ([locking.Holder.Instance], reported by [Provider.Inspect] and in a
// *[locking.HeldError]). The default, and the value of an empty name, is
// [locking.DefaultInstance] ("host:pid").
func WithInstance(name string) Option { return instanceOption(name) }
