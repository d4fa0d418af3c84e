package locking

import (
	"testing"
	"unsafe"
)

// A locked Send with the in-memory provider allocates one scope; every word
// added to it is paid on every such Send, and past 192 bytes it moves to the
// runtime's next size class (208).
func TestScopeFitsIn192Bytes(t *testing.T) {
	if n := unsafe.Sizeof(scope{}); n > 192 {
		t.Fatalf("scope takes %d bytes, want at most 192", n)
	}
}
