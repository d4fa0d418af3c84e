package main

import (
	"errors"
	"net"
	"testing"
)

func TestBackendFlagsThatConflictAreRefused(t *testing.T) {
	for _, cfg := range []Config{
		{RedisAddr: "127.0.0.1:1", PostgresDSN: "postgres://127.0.0.1:1/bank"},
		{LockRedisAddr: "127.0.0.1:1", LockEtcd: "http://127.0.0.1:1"},
	} {
		if _, err := NewApp(cfg); !errors.Is(err, ErrBackendFlags) {
			t.Errorf("NewApp(%+v) = %v, want ErrBackendFlags", cfg, err)
		}
	}
}

func TestPostgresStoreUnreachableFailsAtStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = NewPostgresStore("postgres://postgres@" + addr + "/bank?sslmode=disable&connect_timeout=5")
	if !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("NewPostgresStore on a closed port: %v, want ErrStoreUnavailable", err)
	}
}

func TestRedactDSN(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://bank:s3cret@db:5432/bank": "postgres://bank:xxxxx@db:5432/bank",
		"postgres://bank@db:5432/bank":        "postgres://bank@db:5432/bank",
		"postgres://db/bank":                  "postgres://db/bank",
		"host=db user=bank password=s3cret":   "(keyword DSN)",
	} {
		if got := redactDSN(dsn); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", dsn, got, want)
		}
	}
}

func TestEtcdEndpoints(t *testing.T) {
	got := etcdEndpoints(" http://a:2379, http://b:2379 ,,")
	if len(got) != 2 || got[0] != "http://a:2379" || got[1] != "http://b:2379" {
		t.Fatalf("etcdEndpoints = %q", got)
	}
}
