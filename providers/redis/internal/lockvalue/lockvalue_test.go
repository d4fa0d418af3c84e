package lockvalue_test

import (
	"testing"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
	"github.com/turbomediator/turbomediator-go/providers/redis/internal/lockvalue"
)

func TestClientLayout(t *testing.T) {
	got := lockvalue.Client("ab12:", 71, "host:9", locking.Acquirer{MessageType: "bank.W", TraceID: "t1", SpanID: "s1"})
	if want := "ab12:1z|host:9|bank.W|t1|s1|"; got != want {
		t.Fatalf("Client = %q, want %q", got, want)
	}
}

func TestParseRoundTripsEscapedFields(t *testing.T) {
	a := locking.Acquirer{MessageType: "pkg.T[a|b]", TraceID: "%7C", SpanID: "100%"}
	client := lockvalue.Client("o:", 1, "in|st%", a)
	v := lockvalue.Parse(client + "1764473298123456")
	want := locking.Holder{Instance: "in|st%", MessageType: "pkg.T[a|b]", TraceID: "%7C", SpanID: "100%", Since: time.UnixMicro(1764473298123456)}
	if !v.Recorded || v.Owner != "o:1" || v.Client != client || v.Holder != want {
		t.Fatalf("Parse = %+v, want owner o:1, client %q, holder %+v", v, client, want)
	}
}

func TestParseIgnoresTheWaitedMark(t *testing.T) {
	a := locking.Acquirer{MessageType: "pkg.T*"}
	client := lockvalue.Client("o:", 1, "i*", a)
	for _, s := range []string{client + "1764473298123456", client, "ab12:5"} {
		plain, marked := lockvalue.Parse(s), lockvalue.Parse(s+string(lockvalue.Waited))
		if marked != plain {
			t.Fatalf("Parse(%q + mark) = %+v, want %+v", s, marked, plain)
		}
	}
	if v := lockvalue.Parse(client + "*"); v.Holder.MessageType != "pkg.T*" || v.Holder.Instance != "i*" {
		t.Fatalf("Parse = %+v: a field's own '*' was taken for the mark", v)
	}
}

func TestParseOfAValueNotYetGranted(t *testing.T) {
	client := lockvalue.Client("o:", 1, "i", locking.Acquirer{MessageType: "m"})
	v := lockvalue.Parse(client)
	if !v.Recorded || v.Client != client || !v.Holder.Since.IsZero() || v.Holder.MessageType != "m" {
		t.Fatalf("Parse = %+v, want recorded, no grant time", v)
	}
}

func TestParseOfAnOldOwnerValue(t *testing.T) {
	for _, s := range []string{"ab12:5", "", "a|b|c"} {
		v := lockvalue.Parse(s)
		if v.Recorded || v.Owner != s || v.Holder != (locking.Holder{}) {
			t.Fatalf("Parse(%q) = %+v, want not recorded, owner the whole value", s, v)
		}
	}
}

func TestNowIsTheClockInMicroseconds(t *testing.T) {
	before := time.Now().UnixMicro()
	b, err := lockvalue.Now{}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMicro()
	v := lockvalue.Parse("o|i|m|t|s|" + string(b))
	if us := v.Holder.Since.UnixMicro(); us < before || us > after {
		t.Fatalf("Now = %s, want between %d and %d", b, before, after)
	}
}

func TestClientAllocatesOnce(t *testing.T) {
	a := locking.Acquirer{MessageType: "bank.WithdrawCommand", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}
	n := testing.AllocsPerRun(100, func() { _ = lockvalue.Client("0123456789abcdef:", 12345, "host:1234", a) })
	if n != 1 {
		t.Fatalf("Client allocates %v times, want 1", n)
	}
}

func TestMajorityAgreesOnTheOwnerOfMostNodes(t *testing.T) {
	a := lockvalue.Client("a:", 1, "host-a", locking.Acquirer{MessageType: "m"})
	b := lockvalue.Client("b:", 1, "host-b", locking.Acquirer{})
	locks := []lockvalue.Lock{
		{Held: true, Value: lockvalue.Parse(b + "1000"), LeaseLeft: 9 * time.Second, Fence: 9},
		{Held: true, Value: lockvalue.Parse(a + "2000"), LeaseLeft: 5 * time.Second, Fence: 6},
		{},
		{Held: true, Value: lockvalue.Parse(a + "1500"), LeaseLeft: 4 * time.Second, Fence: 7},
		{Held: true, Value: lockvalue.Parse(a), LeaseLeft: 6 * time.Second, Fence: 8}, // taken again: no time; granted late
	}
	l, ok := lockvalue.Majority(locks, 3)
	if !ok || l.Value.Owner != "a:1" || l.Value.Holder.Instance != "host-a" || l.Value.Holder.MessageType != "m" {
		t.Fatalf("Majority = %+v, %v, want a:1's", l, ok)
	}
	if !l.Value.Holder.Since.Equal(time.UnixMicro(1500)) || l.Fence != 6 || l.LeaseLeft != 4*time.Second {
		t.Fatalf("Majority = %+v, want since 1500µs, fence 6 and lease 4s (the 3rd largest)", l)
	}
	if _, ok := lockvalue.Majority(locks, 4); ok {
		t.Fatal("Majority with quorum 4 found an owner; none holds 4 nodes")
	}
	if _, ok := lockvalue.Majority(make([]lockvalue.Lock, 3), 2); ok {
		t.Fatal("Majority of free nodes found an owner")
	}
}
