package memory

import (
	"context"
	"fmt"
)

// contextError reports that ctx ended while the caller wanted key. It wraps
// ctx.Err() so errors.Is matches context.Canceled or DeadlineExceeded, and
// the cancellation cause too when one was given.
func contextError(ctx context.Context, key string) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("memory: waiting for lock %q: %w: %w", key, err, cause)
	}
	return fmt.Errorf("memory: waiting for lock %q: %w", key, err)
}
