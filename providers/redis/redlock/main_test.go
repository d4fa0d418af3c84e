package redlock_test

import (
	"context"
	"os"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

// TestMain silences go-redis's logger ("failed to dial" lines and the like
// while a test keeps a server down): what these tests check they check, and
// those lines would only bury a failure's report. Child processes started by
// the tests run this too.
func TestMain(m *testing.M) {
	goredis.SetLogger(discardLogger{})
	os.Exit(m.Run())
}

// discardLogger is a go-redis logger that drops every line.
type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}
