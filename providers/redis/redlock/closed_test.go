package redlock_test

import "testing"

func TestAClosedRedlockGrantsNothing(t *testing.T) {
	rlNoLeaks(t)
	ns := startRedlockNodes(t, 3)
	r := ns.redlock(t, nil)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := r.TryAcquire(rlCtx(t), "free", 0)
	closedAnswer(t, "Redlock TryAcquire after Close", h, err)
}
