package main

import (
	"context"
	"errors"
	"testing"

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
}

func mustCreate(t *testing.T, s Store, owner string, balance int64) Account {
	t.Helper()
	a, err := s.Create(context.Background(), owner, balance)
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
		if want[0].ID != "1" || want[10].ID != "11" {
			t.Fatalf("ids = %q..%q, want 1..11", want[0].ID, want[10].ID)
		}
		got, err := s.Get(ctx, "2")
		if err != nil || got != (Account{ID: "2", Owner: "bob", Balance: 100}) {
			t.Fatalf("Get(2) = %+v, %v", got, err)
		}
		list, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != len(want) {
			t.Fatalf("List has %d accounts, want %d", len(list), len(want))
		}
		for i := range want { // numeric order: 10 and 11 after 9
			if list[i] != want[i] {
				t.Fatalf("List[%d] = %+v, want %+v", i, list[i], want[i])
			}
		}
		_, err = s.Get(ctx, "99")
		if !errors.Is(err, ErrAccountNotFound) || err.Error() != "account not found: 99" {
			t.Fatalf("Get(99) error = %v, want account not found: 99", err)
		}
	})
}

func TestStoreListEmptyIsNotNil(t *testing.T) {
	storeKinds(t, func(t *testing.T, s Store) {
		list, err := s.List(context.Background())
		if err != nil || list == nil || len(list) != 0 {
			t.Fatalf("List = %#v, %v; want an empty, non-nil slice", list, err)
		}
	})
}

func TestStoreSaveIsAllOrNothing(t *testing.T) {
	storeKinds(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		a := mustCreate(t, s, "ann", 100)
		err := s.Save(ctx, Write{AccountID: a.ID, Balance: 50}, Write{AccountID: "404", Balance: 50})
		if !errors.Is(err, ErrAccountNotFound) {
			t.Fatalf("Save with a missing account: %v, want ErrAccountNotFound", err)
		}
		wantBalance(t, s, a.ID, 100)
		b := mustCreate(t, s, "bob", 0)
		if err := s.Save(ctx, Write{AccountID: a.ID, Balance: 40, Fence: 3}, Write{AccountID: b.ID, Balance: 60, Fence: 4}); err != nil {
			t.Fatal(err)
		}
		wantBalance(t, s, a.ID, 40)
		wantBalance(t, s, b.ID, 60)
		// b's write is stale: a's must not land either.
		err = s.Save(ctx, Write{AccountID: a.ID, Balance: 0, Fence: 9}, Write{AccountID: b.ID, Balance: 100, Fence: 2})
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
			err := s.Save(ctx, Write{AccountID: a.ID, Balance: st.balance, Fence: st.fence})
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
	if err := s.Save(ctx, Write{AccountID: a.ID, Balance: 1}); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Save with Redis down: %v, want ErrStoreUnavailable", err)
	}
	if _, err := s.Create(ctx, "bob", 1); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("Create with Redis down: %v, want ErrStoreUnavailable", err)
	}
}
