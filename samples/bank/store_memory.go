package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
)

// MemoryStore keeps accounts in this process. Its mutex only keeps the map
// itself consistent; it does not make a Get followed by a Save atomic, so
// without the account lock concurrent withdrawals lose updates here just as
// they do in Redis.
type MemoryStore struct {
	mu       sync.Mutex
	next     int64
	accounts map[string]*memoryAccount
}

type memoryAccount struct {
	Account
	fence uint64
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{accounts: make(map[string]*memoryAccount)}
}

// Create implements Store.
func (s *MemoryStore) Create(_ context.Context, owner string, balance int64) (Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	a := Account{ID: strconv.FormatInt(s.next, 10), Owner: owner, Balance: balance}
	s.accounts[a.ID] = &memoryAccount{Account: a}
	return a, nil
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
func (s *MemoryStore) List(_ context.Context) ([]Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, a.Account)
	}
	slices.SortFunc(out, compareIDs)
	return out, nil
}

// Save implements Store: every write is checked before any is applied.
func (s *MemoryStore) Save(_ context.Context, writes ...Write) error {
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
	return nil
}

// Close implements Store; there is nothing to free.
func (s *MemoryStore) Close() error { return nil }

// compareIDs orders numeric ids by value ("2" before "10"), others as text.
func compareIDs(a, b Account) int {
	x, errX := strconv.ParseInt(a.ID, 10, 64)
	y, errY := strconv.ParseInt(b.ID, 10, 64)
	if errX == nil && errY == nil {
		return cmp.Compare(x, y)
	}
	return cmp.Compare(a.ID, b.ID)
}
