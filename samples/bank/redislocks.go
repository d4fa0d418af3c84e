package main

import (
	"errors"

	"github.com/turbomediator/turbomediator-go/mediator"
)

// redisLocking is the Redis lock provider shared by every instance.
// TEMPORARY: providers/redis has not landed yet; until it does, -redis fails
// at start rather than silently locking in process only.
func redisLocking(addr string) mediator.Option {
	return mediator.Failed("redis lock provider", errors.New("providers/redis is not available in this build yet: "+addr))
}
