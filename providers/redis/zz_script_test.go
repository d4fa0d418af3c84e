package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/turbomediator/turbomediator-go/internal/redistest"
)

func TestZZScripts(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	c := newClient(t, srv.Addr())
	usec := func() float64 {
		s := c.Info(ctx, "commandstats").Val()
		var out float64
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "cmdstat_evalsha") {
				i := strings.Index(l, "usec=")
				fmt.Sscanf(l[i+5:], "%f", &out)
			}
		}
		c.ConfigResetStat(ctx)
		return out
	}
	owner := "0123456789abcdef0123456789abcdef|host-1:12345|withdraw|0123456789abcdef0123456789abcdef|"
	acq := goredis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1] .. ARGV[4], 'NX', 'PX', ARGV[2]) then
	local token = redis.call('INCR', KEYS[2])
	if token == 1 then
		local t = redis.call('TIME')
		token = tonumber(t[1]) * 1000000 + tonumber(t[2])
		redis.call('SET', KEYS[2], string.format('%d', token), 'PX', ARGV[3])
	end
	return token
end
return 0`)
	rel := goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	redis.call('PUBLISH', ARGV[2], ARGV[1])
	return 1
end
return 0`)
	relNoPub := goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
	redis.call('DEL', KEYS[1])
	return 1
end
return 0`)
	keys := []string{"turbo:locks:{bench}", "turbo:fence:{bench}"}
	const n = 30000
	res := map[string][]float64{}
	for round := 0; round < 4; round++ {
		for _, s := range []struct {
			name string
			f    func()
		}{
			{"acq", func() { acq.Run(ctx, c, keys, owner, 30000, 60000, "1234567890123456"); c.Del(ctx, keys[0]) }},
			{"rel", func() { c.Set(ctx, keys[0], owner+"123", 0); rel.Run(ctx, c, keys[:1], owner, "turbo:ch:{bench}") }},
			{"relNoPub", func() { c.Set(ctx, keys[0], owner+"123", 0); relNoPub.Run(ctx, c, keys[:1], owner) }},
		} {
			s.f()
			c.ConfigResetStat(ctx)
			for i := 0; i < n; i++ {
				s.f()
			}
			res[s.name] = append(res[s.name], usec()/n)
		}
	}
	fmt.Println(res)
}
