package idempotency

import (
	"context"
	"sync"
	"time"
)

// MemoryStore is a [Store] in this process's memory, for a single instance
// and for tests. Expired records are dropped as new ones come in, so memory
// stays bounded by the keys of the last TTL.
type MemoryStore struct {
	now func() time.Time

	mu      sync.Mutex
	records map[string]memoryRecord
	claims  int // since the last sweep
}

type memoryRecord struct {
	Record
	expires time.Time
}

// sweepEvery is how many claims pass between two sweeps of expired records.
const sweepEvery = 1024

// MemoryOptions configure a [MemoryStore]; the zero value is the default.
type MemoryOptions struct {
	// Now is the clock; default time.Now. Tests use it to expire records
	// without waiting.
	Now func() time.Time
}

// NewMemoryStore returns an empty store. opts may be nil.
func NewMemoryStore(opts *MemoryOptions) *MemoryStore {
	s := &MemoryStore{now: time.Now, records: make(map[string]memoryRecord)}
	if opts != nil && opts.Now != nil {
		s.now = opts.Now
	}
	return s
}

// Claim implements [Store].
func (s *MemoryStore) Claim(_ context.Context, key string, claim Record, lease time.Duration) (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.claims++; s.claims >= sweepEvery {
		s.claims = 0
		for k, r := range s.records {
			if !now.Before(r.expires) {
				delete(s.records, k)
			}
		}
	}
	if r, ok := s.records[key]; ok && now.Before(r.expires) {
		return r.Record, false, nil
	}
	claim.Done, claim.Response = false, nil
	s.records[key] = memoryRecord{Record: claim, expires: now.Add(lease)}
	return Record{}, true, nil
}

// Complete implements [Store].
func (s *MemoryStore) Complete(_ context.Context, key, token string, response []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[key]
	if !ok || r.Token != token || r.Done {
		return nil
	}
	r.Done, r.Response, r.expires = true, response, s.now().Add(ttl)
	s.records[key] = r
	return nil
}

// Release implements [Store].
func (s *MemoryStore) Release(_ context.Context, key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.records[key]; ok && r.Token == token && !r.Done {
		delete(s.records, key)
	}
	return nil
}

// Len is the number of records held, expired ones not yet swept included.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}
