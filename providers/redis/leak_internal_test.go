package redis

import "go.uber.org/goleak"

// internalLeakOptions is leakOptions of the external tests (helpers_test.go),
// for the tests inside the package.
var internalLeakOptions = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
}
