package chaos

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy is an in-process toxiproxy between the clients and one node: the
// faults it injects are on the wire (latency, stalled connections, resets),
// where the node's own process faults (pause, kill) are not.
type Proxy struct {
	p *toxiproxy.Proxy
}

// StartProxy runs a proxy to upstream on a free loopback port and stops it
// at tb's cleanup.
func StartProxy(tb testing.TB, name, upstream string) *Proxy {
	tb.Helper()
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(server, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		tb.Fatalf("chaos: starting proxy %s: %v", name, err)
	}
	tb.Cleanup(p.Stop)
	return &Proxy{p: p}
}

// Addr returns the address clients connect to.
func (p *Proxy) Addr() string { return p.p.Listen }

func (p *Proxy) add(json string) error {
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(json)); err != nil {
		return fmt.Errorf("chaos: adding toxic %s: %w", json, err)
	}
	return nil
}

// Latency delays every reply from the node by d, give or take jitter.
func (p *Proxy) Latency(d, jitter time.Duration) error {
	return p.add(fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","attributes":{"latency":%d,"jitter":%d}}`,
		d.Milliseconds(), jitter.Milliseconds()))
}

// Stall lets no data through in either direction (a black-holed network),
// and closes each connection after d.
func (p *Proxy) Stall(d time.Duration) error {
	return p.add(fmt.Sprintf(`{"name":"timeout","type":"timeout","stream":"upstream","attributes":{"timeout":%d}}`, d.Milliseconds()))
}

// Reset resets each connection (TCP RST) as soon as it carries data.
func (p *Proxy) Reset() error {
	return p.add(`{"name":"reset","type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`)
}

// Heal removes every toxic.
func (p *Proxy) Heal() { p.p.Toxics.ResetToxics(context.Background()) }
