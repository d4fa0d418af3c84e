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
