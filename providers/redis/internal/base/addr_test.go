package base

import (
	"errors"
	"slices"
	"testing"
)

func TestConnectionStringsBecomeUniversalOptions(t *testing.T) {
	for _, tc := range []struct {
		in             string
		db             int
		addrs          []string
		master         string
		wantDB         int
		user, password string
		tls            bool
	}{
		{in: "localhost:6379", addrs: []string{"localhost:6379"}},
		{in: " 10.0.0.1:7000 ", addrs: []string{"10.0.0.1:7000"}},
		{in: "redis://127.0.0.1:6380/3", addrs: []string{"127.0.0.1:6380"}, wantDB: 3},
		{in: "redis://127.0.0.1:6380/3", db: 5, addrs: []string{"127.0.0.1:6380"}, wantDB: 5},
		{in: "redis://ann:secret@cache:6379/0", addrs: []string{"cache:6379"}, user: "ann", password: "secret"},
		{in: "rediss://cache:6380", addrs: []string{"cache:6380"}, tls: true},
		{in: "a:7000,b:7001,c:7002", addrs: []string{"a:7000", "b:7001", "c:7002"}},
		{in: "redis://a:7000, b:7001", addrs: []string{"a:7000", "b:7001"}},
		{in: "master:mymaster,s1:26379,s2:26379", master: "mymaster", addrs: []string{"s1:26379", "s2:26379"}},
		{in: "master:mymaster,s1:26379", db: 2, master: "mymaster", addrs: []string{"s1:26379"}, wantDB: 2},
	} {
		uo, err := UniversalOptions(tc.in, tc.db)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !slices.Equal(uo.Addrs, tc.addrs) || uo.MasterName != tc.master || uo.DB != tc.wantDB ||
			uo.Username != tc.user || uo.Password != tc.password || (uo.TLSConfig != nil) != tc.tls {
			t.Errorf("%q: got addrs %q master %q db %d user %q password %q tls %v", tc.in,
				uo.Addrs, uo.MasterName, uo.DB, uo.Username, uo.Password, uo.TLSConfig != nil)
		}
	}
}

func TestMalformedConnectionStringsAreRefused(t *testing.T) {
	for _, in := range []string{
		"localhost",              // no port
		"a:1,,b:2",               // empty element
		"master:",                // no name
		"master:mymaster",        // no sentinel
		"http://x:1",             // not a redis URL
		"a:7000,b:7001?db",       // not host:port
		"redis://a:1/2,b:7001",   // a cluster with DB 2
		"redis://a:1/notanumber", // bad DB
	} {
		if _, err := UniversalOptions(in, 0); !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("%q: err = %v, want errBadAddr", in, err)
		}
	}
}

func TestOptionsDefaultsAndValidation(t *testing.T) {
	s, err := SettingsOf(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyPrefix != "turbo:locks:" || s.TTL != DefaultTTL || s.Refresh != DefaultTTL/3 ||
		s.DialTimeout != DefaultDialTimeout || s.ReleaseTimeout != DefaultReleaseTimeout {
		t.Fatalf("defaults = %+v", s)
	}
	for name, o := range map[string]Options{
		"brace in prefix":       {KeyPrefix: "app{x}:"},
		"refresh not below TTL": {TTL: 1e9, RefreshInterval: 1e9},
		"negative refresh":      {RefreshInterval: -1},
		"TTL below 1ms":         {TTL: 1000},
		"inverted backoff":      {MinRetryBackoff: 2e9, MaxRetryBackoff: 1e9},
		"negative dial timeout": {DialTimeout: -1},
	} {
		if _, err := SettingsOf(&o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: err = %v, want errBadOptions", name, err)
		}
	}
}
