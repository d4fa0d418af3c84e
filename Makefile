# TurboMediator for Go. `make run` starts the bank sample; `make test` runs every test.
GO      ?= go
PKGS    ?= ./...
BENCH   ?= .
COUNT   ?= 6
GOBIN   ?= $(shell $(GO) env GOPATH)/bin

# Every Go module of the repository: the root one and the nested provider
# modules (providers/etcd, ...), each tested on its own (GOWORK=off), as an
# application would build it. go.work only serves development.
MODULES ?= $(patsubst %/,%,$(dir $(shell git ls-files -- go.mod '*/go.mod')))
# each runs a make command in every module directory.
each = set -e; for m in $(MODULES); do echo "== module $$m"; (cd $$m && GOWORK=off $(1)); done

.PHONY: run test bench lint vet fmt chaos redis-scale redis-recovery

run:
	cd samples/bank && $(GO) run .

test: vet
	@$(call each,$(GO) test -race -count=1 -timeout 20m $(PKGS))

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	@$(call each,$(GO) vet $(PKGS))

# chaos runs the fault-injection suite for longer than the short run `make test`
# includes (CHAOS_DURATION; CHAOS_SEED replays a schedule), then the etcd
# provider's chaos mode (members killed, frozen, a majority stopped), the
# PostgreSQL provider's (sessions terminated, backends frozen, the server
# restarted) and its silent-partition test (root and network namespaces: the
# server in a namespace of its own, the path cut by blackhole routes).
chaos:
	CHAOS_DURATION=$${CHAOS_DURATION:-2m} $(GO) test -race -count=1 -run Chaos -timeout 10m -v ./internal/chaos/...
	cd providers/etcd && GOWORK=off CHAOS_DURATION=$${CHAOS_DURATION:-2m} $(GO) test -race -count=1 -run TestChaosEtcd -timeout 10m -v .
	cd providers/postgres && GOWORK=off CHAOS_DURATION=$${CHAOS_DURATION:-2m} $(GO) test -race -count=1 -run TestChaosPostgres -timeout 10m -v .
	cd providers/postgres && GOWORK=off PG_PARTITION=1 $(GO) test -race -count=1 -run TestSilentPartitionLostBeforeTheServerFreesTheLock -timeout 5m -v .
	$(MAKE) redis-scale
	$(MAKE) redis-recovery

# redis-recovery measures how soon after Redis answers again the locks released while it was
# down are free (10 outages per provider; median and max; fails above 1s). Without -race.
redis-recovery:
	REDIS_RECOVERY_RUNS=$${REDIS_RECOVERY_RUNS:-10} $(GO) test -count=1 -timeout 10m -v \
		-run 'MeasureReleaseRecovery' ./providers/redis/...

# redis-scale runs the Redis provider's scale tests at the issue's sizes (make test runs them
# smaller): 1,000,000 distinct keys locked and released leave DBSIZE at its baseline, and
# 10,000 Sends on one key (and 2 processes x 5,000) are served in arrival order with at most
# 3 script calls per grant. Without -race: they measure the provider, not the detector.
redis-scale:
	REDIS_BOUNDED_KEYS=1000000 REDIS_HERD=10000 $(GO) test -count=1 -timeout 20m -v \
		-run 'TestDistinctKeysLeaveNothingBehind|TestRedlockDistinctKeysLeaveNothingBehind|TestAHerd' ./providers/redis/ ./providers/redis/redlock/

bench:
	@$(call each,$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) $(PKGS))

lint: vet
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	@$(call each,PATH="$(GOBIN):$$PATH" staticcheck $(PKGS))

fmt:
	gofmt -w $$(git ls-files '*.go')
