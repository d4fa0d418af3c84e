package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/postgres/pgtest"
)

// TestSessionsAskTheServerForKeepalives: the provider's sessions carry the
// server-side keepalive settings derived from Options.KeepAlive (the
// server's side of a silent network path), and a negative KeepAlive leaves
// the server's defaults.
func TestSessionsAskTheServerForKeepalives(t *testing.T) {
	dsn := pgtest.Start(t).DSN("postgres")
	for _, tc := range []struct {
		keepAlive           time.Duration
		idle, interval, cnt string
	}{
		{0, "10", "5", "3"},
		{4 * time.Second, "4", "2", "3"},
		{-1, "", "", ""}, // the system's defaults: not ours
	} {
		p, err := New(dsn, &Options{KeepAlive: tc.keepAlive})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := p.conns.get(ctx, time.Now().Add(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var idle, interval, cnt string
		err = c.QueryRow(ctx, "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'), current_setting('tcp_keepalives_count')").Scan(&idle, &interval, &cnt)
		p.conns.put(c)
		cancel()
		_ = p.Close()
		if err != nil {
			t.Fatal(err)
		}
		if tc.keepAlive < 0 {
			if idle == "10" && cnt == "3" {
				t.Errorf("KeepAlive %s: the server still got the provider's keepalives", tc.keepAlive)
			}
			continue
		}
		if idle != tc.idle || interval != tc.interval || cnt != tc.cnt {
			t.Errorf("KeepAlive %s: server keepalives %s/%s/%s, want %s/%s/%s", tc.keepAlive, idle, interval, cnt, tc.idle, tc.interval, tc.cnt)
		}
	}
}
