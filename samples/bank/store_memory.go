package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemoryStore keeps accounts in this process. Its mutex only keeps the maps
// themselves consistent; it does not make a Get followed by a Save atomic,
// so without the account lock concurrent withdrawals lose updates here just
// as they do in Redis.
type MemoryStore struct {
	now func() time.Time
	ids idGenerator

	mu       sync.Mutex
	accounts map[string]*memoryAccount
	sorted   []string // the ids, in order
	applied  map[string]memoryApplied
	writes   int // since the last sweep of expired applied records
}

type memoryAccount struct {
	Account
	fence uint64
}

type memoryApplied struct {
	Applied
	expires time.Time
}

// appliedSweepEvery is how many writes pass between two sweeps of expired
// applied records.
const appliedSweepEvery = 1024

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{now: time.Now, accounts: make(map[string]*memoryAccount), applied: make(map[string]memoryApplied)}
}

// Create implements Store.
func (s *MemoryStore) Create(_ context.Context, owner string, balance int64, applied *Applied) (Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := Account{ID: s.ids.next(s.now()), Owner: owner, Balance: balance}
	s.accounts[a.ID] = &memoryAccount{Account: a}
	i, _ := slices.BinarySearch(s.sorted, a.ID)
	s.sorted = slices.Insert(s.sorted, i, a.ID)
	s.record(applied, a)
	return a, nil
}

// record keeps applied (its Response filled from resp when empty).
func (s *MemoryStore) record(applied *Applied, resp any) {
	if applied == nil {
		return
	}
	now := s.now()
	if s.writes++; s.writes >= appliedSweepEvery {
		s.writes = 0
		for k, r := range s.applied {
			if !now.Before(r.expires) {
				delete(s.applied, k)
			}
		}
	}
	r := *applied
	if r.Response == nil {
		r.Response = mustJSON(resp)
	}
	s.applied[r.Key] = memoryApplied{Applied: r, expires: now.Add(r.TTL)}
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, id string) (Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return Account{}, fmt.Errorf("%w: %s", ErrAccountNotFound, id)
	}
	return a.Account, nil
}

// List implements Store.
func (s *MemoryStore) List(_ context.Context, after string, limit int) ([]Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	if after != "" {
		var found bool
		i, found = slices.BinarySearch(s.sorted, after)
		if found {
			i++
		}
	}
	out := make([]Account, 0, min(limit, len(s.sorted)-i))
	for _, id := range s.sorted[i:min(i+limit, len(s.sorted))] {
		out = append(out, s.accounts[id].Account)
	}
	return out, nil
}

// Save implements Store: every write is checked before any is applied.
func (s *MemoryStore) Save(_ context.Context, applied *Applied, writes ...Write) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range writes {
		a, ok := s.accounts[w.AccountID]
		if !ok {
			return fmt.Errorf("%w: %s", ErrAccountNotFound, w.AccountID)
		}
		if w.Fence != 0 && w.Fence < a.fence {
			return fmt.Errorf("account %q, token %d < %d: %w", w.AccountID, w.Fence, a.fence, ErrStaleWrite)
		}
	}
	for _, w := range writes {
		a := s.accounts[w.AccountID]
		a.Balance = w.Balance
		if w.Fence != 0 {
			a.fence = w.Fence
		}
	}
	s.record(applied, nil)
	return nil
}

// Load implements Store.
func (s *MemoryStore) Load(_ context.Context, key string, ids ...string) ([]Account, *Applied, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, len(ids))
	for i, id := range ids {
		a, ok := s.accounts[id]
		if !ok {
			return nil, nil, fmt.Errorf("%w: %s", ErrAccountNotFound, id)
		}
		out[i] = a.Account
	}
	if key == "" {
		return out, nil, nil
	}
	r, ok := s.applied[key]
	if !ok || !s.now().Before(r.expires) {
		return out, nil, nil
	}
	rec := r.Applied
	return out, &rec, nil
}

// Ping implements Store; memory is always there.
func (s *MemoryStore) Ping(context.Context) error { return nil }

// Close implements Store; there is nothing to free.
func (s *MemoryStore) Close() error { return nil }
