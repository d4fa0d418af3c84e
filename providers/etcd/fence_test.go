package etcd_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// fencedStore is the resource a lock guards in these tests: a counter in
// etcd that accepts a write only with a fencing token above every token it
// accepted before (kept beside the value), as a careful storage layer would.
type fencedStore struct {
	c   *clientv3.Client
	key string
}

func (s fencedStore) fenceKey() string { return s.key + "/fence" }

// padded turns a token into a string that orders like the number.
func padded(token uint64) string { return fmt.Sprintf("%020d", token) }

// init sets the counter to 0 and the fence below every token.
func (s fencedStore) init(t testing.TB, ctx context.Context) {
	t.Helper()
	if _, err := s.c.Txn(ctx).Then(clientv3.OpPut(s.key, "0"), clientv3.OpPut(s.fenceKey(), padded(0))).Commit(); err != nil {
		t.Fatal(err)
	}
}

// read returns the counter.
func (s fencedStore) read(ctx context.Context) (int64, error) {
	resp, err := s.c.Get(ctx, s.key)
	if err != nil {
		return 0, err
	}
	if len(resp.Kvs) == 0 {
		return 0, fmt.Errorf("%s missing", s.key)
	}
	return strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
}

// write stores v if token is above the fence, and reports whether it did.
func (s fencedStore) write(ctx context.Context, token uint64, v int64) (bool, error) {
	resp, err := s.c.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(s.fenceKey()), "<", padded(token))).
		Then(clientv3.OpPut(s.fenceKey(), padded(token)), clientv3.OpPut(s.key, strconv.FormatInt(v, 10))).
		Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}
