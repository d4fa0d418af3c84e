package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// maxIDLength bounds an account id anywhere a client gives one (a path, a
// transfer's from and to, a cursor): the store's own ids are 36 bytes.
const maxIDLength = 64

// idGenerator makes UUIDv7s (RFC 9562): 48 bits of Unix milliseconds, the
// version and variant, and 74 random bits. Ids are never reused, even by a
// store that lost everything (a Redis restarted without persistence), and
// they sort by creation time, which gives GET /accounts its order. Within
// one generator they strictly increase: an id made in the same millisecond
// as the one before it (or after the clock stepped back) is the previous one
// plus one, as RFC 9562 (section 6.2, method 2) allows.
type idGenerator struct {
	mu   sync.Mutex
	last [16]byte
}

func (g *idGenerator) next(now time.Time) string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(u[6:]) // crypto/rand.Read never fails
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // variant 10
	g.mu.Lock()
	if bytes.Compare(u[:], g.last[:]) <= 0 {
		u = g.last
		for i := 15; i >= 9; i-- { // the random tail after the variant
			u[i]++
			if u[i] != 0 {
				break
			}
		}
	}
	g.last = u
	g.mu.Unlock()
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}
