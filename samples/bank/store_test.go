package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

// storeKinds runs a test against both stores: they must behave alike.
func storeKinds(t *testing.T, test func(t *testing.T, s Store)) {
	t.Run("memory", func(t *testing.T) {
		test(t, NewMemoryStore())
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		s, err := NewRedisStore(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		test(t, s)
	})
	postgresStoreKind(t, test)
}

func mustCreate(t *testing.T, s Store, owner string, balance int64) Account {
	t.Helper()
	a, err := s.Create(context.Background(), owner, balance, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantBalance(t *testing.T, s Store, id string, want int64) {
	t.Helper()
	a, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Balance != want {
		t.Fatalf("account %s balance = %d, want %d", id, a.Balance, want)
	}
}

func TestStoreCreateGetList(t *testing.T) {
	storeKinds(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		var want []Account
		for i, owner := range []string{"ann", "bob", "cy", "di", "ed", "flo", "gus", "hal", "ivy", "jo", "kim"} {
			a := mustCreate(t, s, owner, int64(100*i))
			want = append(want, a)
		}
		got, err := s.Get(ctx, want[1].ID)
		if err != nil || got != (Account{ID: want[1].ID, Owner: "bob", Balance: 100}) {
			t.Fatalf("Get(bob) = %+v, %v", got, err)
		}
		list, err := s.List(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != len(want) {
			t.Fatalf("List has %d accounts, want %d", len(list), len(want))
		}
		for i := range want { // creation order: ids grow
			if list[i] != want[i] {
				t.Fatalf("List[%d] = %+v, want %+v", i, list[i], want[i])
			}
		}
		page, err := s.List(ctx, want[3].ID, 4)
		if err != nil || len(page) != 4 || page[0] != want[4] || page[3] != want[7] {
			t.Fatalf("List(after di, 4) = %+v, %v; want ed..hal", page, err)
		}
		if page, err := s.List(ctx, want[10].ID, 4); err != nil || len(page) != 0 {
			t.Fatalf("List after the last = %+v, %v", page, err)
		}
		_, err = s.Get(ctx, "99")
		if !errors.Is(err, ErrAccountNotFound) || err.Error() != "account not found: 99" {
			t.Fatalf("Get(99) error = %v, want account not found: 99", err)
		}
	})
}

// TestStoreIdsAreRandomAndIncreasing: 2,000 ids made as fast as possible
// are UUIDv7s, all distinct and increasing (the list order), and two stores
// never make the same one.
func TestStoreIdsAreRandomAndIncreasing(t *testing.T) {
	var g, h idGenerator
	now := time.Now()
	seen := map[string]bool{}
	prev := ""
	for range 2000 {
		id, other := g.next(now), h.next(now)
		if !uuidV7.MatchString(id) || id <= prev || seen[id] || seen[other] || id == other {
			t.Fatalf("id %q after %q (other generator %q)", id, prev, other)
		}
		seen[id], seen[other] = true, true
		prev = id
	}
	// The clock going back does not make ids go back.
	if id := g.next(now.Add(-time.Hour)); id <= prev {
		t.Fatalf("id %q after %q with the clock stepped back", id, prev)
	}
}

func TestStoreListEmptyIsNotNil(t *testing.T) {
	storeKinds(t, func(t *testing.T, s Store) {
		list, err := s.List(context.Background(), "", 10)
		if err != nil || list == nil || len(list) != 0 {
			t.Fatalf("List = %#v, %v; want an empty, non-nil slice", list, err)
		}
	})
}

// TestStoreAppliedRecordLandsWithTheWrite: the record of a request lands
// with its write (and with a created account), not with a refused one.
func TestStoreAppliedRecordLandsWithTheWrite(t *testing.T) {
	storeKinds(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a, err := s.Create(ctx, "ann", 100, &Applied{Key: "c", Request: "create", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		accts, r, err := s.Load(ctx, "c", a.ID)
		if err != nil || r == nil || r.Request != "create" || string(r.Response) != string(mustJSON(a)) || len(accts) != 1 || accts[0] != a {
			t.Fatalf("Load after the create: %+v %+v %v", accts, r, err)
		}
		if err := s.Save(ctx, &Applied{Key: "w", Request: "withdraw", Response: []byte(`{"balance":90}`), TTL: time.Hour},
			Write{AccountID: a.ID, Balance: 90, Fence: 5}); err != nil {
			t.Fatal(err)
		}
		if accts, r, _ := s.Load(ctx, "w", a.ID); r == nil || string(r.Response) != `{"balance":90}` || accts[0].Balance != 90 {
			t.Fatalf("record of the withdrawal: %+v %+v", r, accts)
		}
		err = s.Save(ctx, &Applied{Key: "stale", Request: "withdraw", Response: []byte(`{}`), TTL: time.Hour},
			Write{AccountID: a.ID, Balance: 0, Fence: 4})
		if !errors.Is(err, ErrStaleWrite) {
			t.Fatalf("stale save: %v", err)
		}
		if _, r, _ := s.Load(ctx, "stale"); r != nil {
			t.Fatal("the record of a refused write landed")
		}
		if _, r, _ := s.Load(ctx, "never"); r != nil {
			t.Fatal("a record for a key never used")
		}
		b := mustCreate(t, s, "bob", 7)
		if accts, r, err := s.Load(ctx, "", b.ID, a.ID); err != nil || r != nil || len(accts) != 2 || accts[0] != b || accts[1].ID != a.ID {
			t.Fatalf("Load(bob, ann) = %+v %+v %v", accts, r, err)
		}
		if _, _, err := s.Load(ctx, "w", a.ID, "404"); !errors.Is(err, ErrAccountNotFound) {
			t.Fatalf("Load with a missing account: %v", err)
		}
	})
}

func TestStoreSaveIsAllOrNothing(t *testing.T) {
	storeKinds(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := mustCreate(t, s, "ann", 100)
		err := s.Save(ctx, nil, Write{AccountID: a.ID, Balance: 50}, Write{AccountID: "404", Balance: 50})
		if !errors.Is(err, ErrAccountNotFound) {
			t.Fatalf("Save with a missing account: %v, want ErrAccountNotFound", err)
		}
		wantBalance(t, s, a.ID, 100)
		b := mustCreate(t, s, "bob", 0)
		if err := s.Save(ctx, nil, Write{AccountID: a.ID, Balance: 40, Fence: 3}, Write{AccountID: b.ID, Balance: 60, Fence: 4}); err != nil {
			t.Fatal(err)
		}
		wantBalance(t, s, a.ID, 40)
		wantBalance(t, s, b.ID, 60)
		// b's write is stale: a's must not land either.
		err = s.Save(ctx, nil, Write{AccountID: a.ID, Balance: 0, Fence: 9}, Write{AccountID: b.ID, Balance: 100, Fence: 2})
		if !errors.Is(err, ErrStaleWrite) {
			t.Fatalf("Save with a stale fence: %v, want ErrStaleWrite", err)
		}
		wantBalance(t, s, a.ID, 40)
		wantBalance(t, s, b.ID, 60)
	})
}

func TestStoreFencingRefusesOlderTokens(t *testing.T) {
	storeKinds(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := mustCreate(t, s, "ann", 100)
		steps := []struct {
			fence   uint64
			balance int64
			stale   bool
			after   int64
		}{
			{fence: 5, balance: 90, after: 90},
			{fence: 5, balance: 80, after: 80},                // the same holder may write twice
			{fence: 4, balance: 1000, stale: true, after: 80}, // an older holder may not
			{fence: 7, balance: 70, after: 70},
			{fence: 6, balance: 1000, stale: true, after: 70},
			{fence: 0, balance: 60, after: 60},                // unlocked (-no-lock): not checked...
			{fence: 6, balance: 1000, stale: true, after: 60}, // ...and the stored fence stays 7
		}
		for i, st := range steps {
			err := s.Save(ctx, nil, Write{AccountID: a.ID, Balance: st.balance, Fence: st.fence})
			if st.stale != errors.Is(err, ErrStaleWrite) || (!st.stale && err != nil) {
				t.Fatalf("step %d: Save(fence %d) = %v, want stale=%v", i, st.fence, err, st.stale)
			}
			wantBalance(t, s, a.ID, st.after)
		}
	})
}

func TestRedisStoreUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s, err := NewRedisStore(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := mustCreate(t, s, "ann", 100)
	srv.Kill()
	ctx := context.Background()
	if _, err := s.Get(ctx, a.ID); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Get with Redis down: %v, want ErrStoreUnavailable", err)
	}
	if err := s.Save(ctx, nil, Write{AccountID: a.ID, Balance: 1}); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Save with Redis down: %v, want ErrStoreUnavailable", err)
	}
	if _, err := s.Create(ctx, "bob", 1, nil); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Create with Redis down: %v, want ErrStoreUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Ping with Redis down: %v, want ErrStoreUnavailable", err)
	}
}

// TestRedisStoreRefusesACluster: several addresses, or one node of a
// cluster, are refused at start-up with ErrClusterStore (a transfer's
// script spans two accounts' slots); the locks may still use the cluster.
func TestRedisStoreRefusesACluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	for _, addr := range []string{strings.Join(c.Addrs(), ","), c.Addrs()[0], "redis://" + c.Addrs()[1]} {
		_, err := NewApp(Config{RedisAddr: addr})
		if !errors.Is(err, ErrClusterStore) || !strings.Contains(err.Error(), "-lock-redis") {
			t.Errorf("-redis %s: %v, want ErrClusterStore naming -lock-redis", addr, err)
		}
	}
	store := redistest.Start(t)
	_, srv := newTestServer(t, Config{RedisAddr: store.Addr(), LockRedisAddr: strings.Join(c.Addrs(), ",")})
	runRows(t, srv, []contractRow{
		{"transfer, locks on the cluster", "POST", "/transfers", `{"from":"$ann","to":"$bob","amount":100}`, 200, `{"from_balance":900,"to_balance":600}`, ""},
	})
}
