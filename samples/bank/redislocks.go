package main

import (
	"github.com/turbomediator/turbomediator-go/mediator"
	lockredis "github.com/turbomediator/turbomediator-go/providers/redis"
)

// redisLocking is the Redis lock provider that every instance pointed at the
// same Redis shares, so an account's lock excludes requests on all of them.
// Build pings Redis, so an instance started with Redis down fails at once.
func redisLocking(addr string) mediator.Option {
	return lockredis.WithRedisDistributedLocking(addr)
}
