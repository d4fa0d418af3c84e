// Package lockvalue is the layout of a Redis lock key's value, shared by
// the single-node and the Redlock providers: who holds the lock, recorded
// in the lock's own value so that taking it costs no extra command.
//
// A value is seven fields separated by '|':
//
//	<owner>|<instance>|<message type>|<trace id>|<span id>|<granted µs>|<token>
//
// The client sets the first five, each followed by '|' (see [Client]): the
// owner id, unique to one acquisition, and the [locking.Acquirer] of the
// context TryAcquire was given, with the provider's instance name. The
// acquire script appends the last two when it grants the lock: the server's
// clock in microseconds (TIME) and the fencing token it drew. The scripts
// that extend and release a lock compare the client's part, a prefix of the
// stored value, with the one they are given. A '|' or '%' within a field is
// written %7C or %25, so that the fields can always be told apart.
//
// A value with no '|' is an owner id alone, as versions before the holder
// record stored it; [Parse] reports it as not recorded.
package lockvalue

import (
	"strconv"
	"strings"
	"time"

	"github.com/turbomediator/turbomediator-go/behaviors/locking"
)

// sep separates the fields of a value.
const sep = '|'

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
	// and Token are zero when not.
	Recorded bool
	Holder   locking.Holder
	Token    uint64
}

// Parse reads a stored lock value. A value set by the client but not (yet)
// completed by a grant has Recorded set and a zero Since and Token.
func Parse(v string) Value {
	var f [7]string
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
	if n == 7 {
		out.Token, _ = strconv.ParseUint(f[6], 10, 64)
	}
	return out
}
