package postgres

import (
	"net"
	"strconv"
	"time"
)

// keepalives are the TCP keepalive settings derived from Options.KeepAlive:
// the server's, which end a silent session and so let its lock go, and the
// provider's, which close Lost. Both kernels count in whole seconds.
//
// A kernel ends a silent connection idle + count×interval after the last
// packet it received; a keepalive probe it receives does not count (an old
// sequence number: it answers and keeps its timer). Each side thus restarts
// its count only with the answers to its own probes, and at the cut of the
// path the two last receptions differ: the server's can be up to its idle
// time old (it was about to probe), the provider's brand new (the answer to
// its probe had just arrived). So the server ends the session no sooner
// than count×interval after the cut, and the provider learns of it no later
// than idle + count×interval after the cut (its own settings): that second
// sum must be the smaller, by a margin, whatever the phase of the probes.
//
// With k the whole seconds of KeepAlive (at least 2):
//   - the provider probes after ⌈k/2⌉ of silence, then every ⌈k/4⌉, and
//     gives up after 3 unanswered probes: Lost closes within ⌈k/2⌉+3⌈k/4⌉
//     of the cut (4s for k = 2, 14s for k = 10), about 1.25×KeepAlive;
//   - the server probes after ⌊k/2⌋ of silence, then every k, and ends the
//     session after 3 unanswered probes: between 3k and ⌊k/2⌋+3k after the
//     cut (6–7s for k = 2, 30–35s for k = 10). The margin is 2s at k = 2
//     and grows with k.
//
// Keepalives wait for an empty send queue: a session whose last answer the
// provider had not yet acknowledged at the cut (it delays its ACKs by up to
// 200ms) retransmits instead, for about fifteen minutes (tcp_retries2).
// The server's tcp_user_timeout of ⌊k/2⌋+3k seconds ends it then as the
// keepalives would (it counts from the unacknowledged answer, at most the
// ACK delay before the cut). The provider sends one statement while it
// holds a lock, the holder record (see inspect.go), 50ms after the grant;
// while its answer is due its keepalives wait, so that statement is bounded
// by the provider's own give-up time (giveUp) and ends the session when it
// fails. Otherwise it sends nothing, so its keepalives run.
type keepalives struct {
	client net.KeepAliveConfig
	// The server's settings, as runtime parameters (whole seconds; the
	// user timeout in milliseconds).
	serverIdle, serverInterval, serverCount, serverUserTimeout string
}

// giveUp is how long after a path went silent the provider's sockets give
// up: idle + count×interval.
func (k keepalives) giveUp() time.Duration {
	return k.client.Idle + time.Duration(k.client.Count)*k.client.Interval
}

// newKeepalives returns the settings of KeepAlive ka (at least 2s).
func newKeepalives(ka time.Duration) keepalives {
	k := int(ka / time.Second)
	const count = 3
	serverIdle := k / 2
	return keepalives{
		client: net.KeepAliveConfig{
			Enable:   true,
			Idle:     time.Duration((k+1)/2) * time.Second,
			Interval: time.Duration((k+3)/4) * time.Second,
			Count:    count,
		},
		serverIdle:        strconv.Itoa(serverIdle),
		serverInterval:    strconv.Itoa(k),
		serverCount:       strconv.Itoa(count),
		serverUserTimeout: strconv.Itoa((serverIdle + count*k) * 1000),
	}
}
