package postgres

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
)

// TestLockIDIsTheFirst64BitsOfSHA256: short and long keys (past the stack
// buffer) hash prefix + key.
func TestLockIDIsTheFirst64BitsOfSHA256(t *testing.T) {
	for _, key := range []string{"", "withdraw:42", strings.Repeat("k", 300)} {
		sum := sha256.Sum256([]byte("p:" + key))
		if got, want := LockID("p:", key), int64(binary.BigEndian.Uint64(sum[:8])); got != want {
			t.Errorf("LockID(%q) = %d, want %d", key, got, want)
		}
	}
	if LockID("a:", "b") == LockID("b:", "b") {
		t.Error("the prefix does not change the id")
	}
}
