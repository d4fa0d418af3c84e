// Package lockvalue is the layout of a Redis lock key's value, shared by
// the single-node and the Redlock providers: who holds the lock, recorded
// in the lock's own value so that taking it costs no extra command.
//
// A value is six fields separated by '|':
//
//	<owner>|<instance>|<message type>|<trace id>|<span id>|<granted µs>
//
// The first five, each followed by '|', are the owner (see [Client]): the
// owner id, unique to one acquisition, and the [locking.Acquirer] of the
// context TryAcquire was given, with the provider's instance name. They stay
// the same for every call of one acquisition. The acquire script appends
// the sixth when it grants the lock: the client's clock in microseconds
// since 1970 as the call was sent ([Now]), which costs the script no
// command. The scripts that extend and release a lock compare the owner, a
// prefix of the stored value, with the one they are given; it ends with
// '|', so no other owner's value starts with it. A '|' or '%' within a
// field is written %7C or %25, so that the fields can always be told apart.
//
// A value with no '|' is an owner id alone, as versions before the holder
// record stored it; [Parse] reports it as not recorded.
//
// A value may end with one '*' ([Waited]): the acquire script appends it
// when it refuses someone, and the release announces only the release of a
// value so marked. No field ends the value with '*' (the last is a number,
// or empty after the owner's '|'), so the mark cannot be mistaken for data.
package lockvalue

import (
	"strconv"
	"strings"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// sep separates the fields of a value.
const sep = '|'

// Waited is the mark the acquire script appends to the value of a lock
// that refused someone: a release of a marked value is announced on the
// key's channel, that of an unmarked one is not.
const Waited = '*'

// Client returns the part of a lock value that the client sets: the owner
// id (owner followed by seq in base 36), then instance and a's fields, each
// followed by '|'. It allocates once when no field needs escaping.
func Client(owner string, seq uint64, instance string, a locking.Acquirer) string {
	var num [16]byte
	id := strconv.AppendUint(num[:0], seq, 36)
	var b strings.Builder
	b.Grow(len(owner) + len(id) + len(instance) + len(a.MessageType) + len(a.TraceID) + len(a.SpanID) + 5)
	b.WriteString(owner)
	b.Write(id)
	b.WriteByte(sep)
	for _, f := range [...]string{instance, a.MessageType, a.TraceID, a.SpanID} {
		writeField(&b, f)
		b.WriteByte(sep)
	}
	return b.String()
}

// writeField writes f, escaped.
func writeField(b *strings.Builder, f string) {
	if !strings.ContainsAny(f, "|%") {
		b.WriteString(f)
		return
	}
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '|':
			b.WriteString("%7C")
		case '%':
			b.WriteString("%25")
		default:
			b.WriteByte(f[i])
		}
	}
}

// unescape undoes writeField.
func unescape(f string) string {
	if !strings.Contains(f, "%") {
		return f
	}
	var b strings.Builder
	b.Grow(len(f))
	for i := 0; i < len(f); i++ {
		if f[i] == '%' && i+2 < len(f) {
			switch f[i+1 : i+3] {
			case "7C":
				b.WriteByte('|')
				i += 2
				continue
			case "25":
				b.WriteByte('%')
				i += 2
				continue
			}
		}
		b.WriteByte(f[i])
	}
	return b.String()
}

// Value is a stored lock value, read.
type Value struct {
	// Owner is the owner id: the whole value when not Recorded.
	Owner string
	// Client is the part the client set (see [Client]); "" when not
	// Recorded.
	Client string
	// Recorded reports whether the value carries a holder record; Holder
	// is zero when not.
	Recorded bool
	Holder   locking.Holder
}

// Parse reads a stored lock value. A value that is only an owner (a
// Redlock node that took the lock again while extending it) has Recorded
// set and a zero Since.
func Parse(v string) Value {
	v = strings.TrimSuffix(v, string(Waited))
	var f [6]string
	n := 0
	rest := v
	for n < len(f)-1 {
		i := strings.IndexByte(rest, sep)
		if i < 0 {
			break
		}
		f[n], rest = rest[:i], rest[i+1:]
		n++
	}
	f[n] = rest
	n++
	if n < 6 {
		return Value{Owner: v}
	}
	out := Value{
		Owner:    f[0],
		Recorded: true,
		Holder: locking.Holder{
			Instance:    unescape(f[1]),
			MessageType: unescape(f[2]),
			TraceID:     unescape(f[3]),
			SpanID:      unescape(f[4]),
		},
	}
	out.Client = v[:len(f[0])+len(f[1])+len(f[2])+len(f[3])+len(f[4])+5]
	if us, err := strconv.ParseInt(f[5], 10, 64); err == nil {
		out.Holder.Since = time.UnixMicro(us)
	}
	return out
}

// Now is a script argument that go-redis writes as the client's clock in
// microseconds since 1970 at the moment it sends the call: the grant time
// of the value the acquire script stores. A retried or pipelined call gets
// the time it is actually sent.
type Now struct{}

// MarshalBinary returns the current time in µs, in decimal.
func (Now) MarshalBinary() ([]byte, error) {
	return strconv.AppendInt(make([]byte, 0, 16), time.Now().UnixMicro(), 10), nil
}
