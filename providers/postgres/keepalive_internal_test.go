package postgres

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/providers/postgres/pgtest"
)

// TestSessionsAskTheServerForKeepalives: the provider's sessions carry the
// server-side keepalive settings and TCP user timeout derived from
// Options.KeepAlive (the server's side of a silent network path), and a
// negative KeepAlive leaves the server's defaults.
func TestSessionsAskTheServerForKeepalives(t *testing.T) {
	dsn := pgtest.Start(t).DSN("postgres")
	for _, tc := range []struct {
		keepAlive                 time.Duration
		idle, interval, cnt, user string
	}{
		{0, "5", "10", "3", "35000"},
		{2 * time.Second, "1", "2", "3", "7000"},
		{4 * time.Second, "2", "4", "3", "14000"},
		{-1, "", "", "", ""}, // the system's defaults: not ours
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
		var idle, interval, cnt, user string
		err = c.QueryRow(ctx, `SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'),
			current_setting('tcp_keepalives_count'), current_setting('tcp_user_timeout')`).Scan(&idle, &interval, &cnt, &user)
		p.conns.put(c)
		cancel()
		_ = p.Close()
		if err != nil {
			t.Fatal(err)
		}
		if tc.keepAlive < 0 {
			if idle == "5" && cnt == "3" {
				t.Errorf("KeepAlive %s: the server still got the provider's keepalives", tc.keepAlive)
			}
			continue
		}
		if idle != tc.idle || interval != tc.interval || cnt != tc.cnt || user != tc.user {
			t.Errorf("KeepAlive %s: server keepalives %s/%s/%s, user timeout %sms, want %s/%s/%s, %sms",
				tc.keepAlive, idle, interval, cnt, user, tc.idle, tc.interval, tc.cnt, tc.user)
		}
	}
}

// TestTheProviderGivesUpBeforeTheServerForEveryKeepAlive: for every
// KeepAlive from 2s to 10 minutes (and fractions of seconds, which both
// kernels drop or round), the latest the provider's sockets give up on a
// silent path — a probe answered just before the cut, then idle + 3
// intervals — is at least 2s before the earliest the server ends the
// session — its own probe due just after the cut, then 3 intervals; and the
// server's TCP user timeout is the latest it ends it by keepalives.
func TestTheProviderGivesUpBeforeTheServerForEveryKeepAlive(t *testing.T) {
	for ka := 2 * time.Second; ka <= 10*time.Minute; ka += 250 * time.Millisecond {
		kas := newKeepalives(ka)
		secs := func(s string) time.Duration {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatal(err)
			}
			return time.Duration(n) * time.Second
		}
		// The kernel takes whole seconds, rounded up by Go.
		up := func(d time.Duration) time.Duration { return (d + time.Second - 1) / time.Second * time.Second }
		c := kas.client
		clientLatest := up(c.Idle) + time.Duration(c.Count)*up(c.Interval)
		idle, interval, count := secs(kas.serverIdle), secs(kas.serverInterval), secs(kas.serverCount)/time.Second
		serverEarliest := time.Duration(count) * interval
		if idle < time.Second || interval < time.Second {
			t.Fatalf("KeepAlive %s: server idle %s, interval %s (0 means the system's default)", ka, idle, interval)
		}
		if serverEarliest-clientLatest < 2*time.Second {
			t.Errorf("KeepAlive %s: the provider gives up up to %s after the cut, the server as soon as %s", ka, clientLatest, serverEarliest)
		}
		if user, want := kas.serverUserTimeout, strconv.Itoa(int((idle+time.Duration(count)*interval)/time.Millisecond)); user != want {
			t.Errorf("KeepAlive %s: server user timeout %sms, want %sms", ka, user, want)
		}
		if clientLatest > ka*3/2+2*time.Second {
			t.Errorf("KeepAlive %s: the provider gives up only %s after the cut", ka, clientLatest)
		}
	}
}
