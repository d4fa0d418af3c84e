package locking

import (
	"testing"
	"unsafe"
)

// A locked Send with the in-memory provider allocates one scope; every word
// added to it is paid on every such Send, and past 160 bytes it moves to the
// runtime's next size class (176).
func TestScopeFitsIn160Bytes(t *testing.T) {
	if n := unsafe.Sizeof(scope{}); n > 160 {
		t.Fatalf("scope takes %d bytes, want at most 160", n)
	}
}
