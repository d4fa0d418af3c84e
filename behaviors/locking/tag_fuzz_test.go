package locking

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type fuzzTagCommand struct{}

// FuzzParseTag feeds parseTag arbitrary tags: it must never panic; a refusal
// is a *TagError naming the type and the offending word; an accepted tag has
// a non-negative timeout and a non-empty prefix when one is given, and
// writing it back and parsing again gives the same settings.
//
//	go test -run '^$' -fuzz FuzzParseTag ./behaviors/locking
func FuzzParseTag(f *testing.F) {
	for _, seed := range []string{
		"", "timeout=10s", "prefix=payment,timeout=15s,throw=false", "timeout=0", "timeout=15",
		"prefix=x,colour=red", "timeout=soon", "timeout=-1s", "timeout=-3", "throw=maybe",
		"prefix=", "prefix=a,prefix=b", "timeout", " timeout = 250ms , throw = true ",
		"timeout=9223372037", "timeout=1h2m3.5s", ",", "=", "prefix==",
	} {
		f.Add(seed)
	}
	typ := reflect.TypeOf(fuzzTagCommand{})
	f.Fuzz(func(t *testing.T, tag string) {
		lt, err := parseTag(typ, "DistributedLock", tag)
		if err != nil {
			var te *TagError
			if !errors.As(err, &te) {
				t.Fatalf("parseTag(%q) error %T %v, want *TagError", tag, err, err)
			}
			if te.Type != typ.String() || !strings.Contains(err.Error(), typ.String()) {
				t.Fatalf("parseTag(%q) = %v: the error must name the type %s", tag, err, typ)
			}
			return
		}
		if lt.timeout < 0 {
			t.Fatalf("parseTag(%q) accepted a negative timeout %s", tag, lt.timeout)
		}
		if lt.hasPrefix && lt.prefix == "" {
			t.Fatalf("parseTag(%q) accepted an empty prefix", tag)
		}
		var words []string
		if lt.hasPrefix {
			words = append(words, "prefix="+lt.prefix)
		}
		if lt.hasTimeout {
			words = append(words, "timeout="+lt.timeout.String())
		}
		if lt.hasThrow {
			words = append(words, "throw="+strconv.FormatBool(lt.throw))
		}
		again, err := parseTag(typ, "DistributedLock", strings.Join(words, ","))
		if err != nil || again != lt {
			t.Fatalf("parseTag(%q) = %+v; written back as %q it parses to %+v, %v", tag, lt, strings.Join(words, ","), again, err)
		}
	})
}
