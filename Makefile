# TurboMediator for Go. `make run` starts the bank sample; `make test` runs every test.
GO      ?= go
PKGS    ?= ./...
BENCH   ?= .
COUNT   ?= 6
GOBIN   ?= $(shell $(GO) env GOPATH)/bin
# Every module of the workspace (go.work): the root one and the nested
# provider modules (providers/postgres, ...), each tested in its own folder.
MODULES ?= $(shell $(GO) list -m -f '{{.Dir}}')
# Heavy dependencies that only nested modules may bring: an application that
# imports the root module alone must not see them in its module graph.
NESTED_ONLY ?= github.com/jackc/pgx|go.etcd.io/etcd

.PHONY: run test bench lint vet fmt chaos modcheck

run:
	$(GO) run ./samples/bank

test: vet modcheck
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) test -race -count=1 -timeout 20m $(PKGS)) || exit 1; done

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	@for m in $(MODULES); do (cd $$m && $(GO) vet $(PKGS)) || exit 1; done

# modcheck fails when the root module's graph (without the workspace) shows
# a dependency that belongs to a nested module only.
modcheck:
	@if GOWORK=off $(GO) mod graph | grep -E '$(NESTED_ONLY)'; then \
		echo "modcheck: the root module depends on the above, which only nested modules may"; exit 1; \
	else echo "modcheck: the root module's graph has none of $(NESTED_ONLY)"; fi

# chaos runs the fault-injection suite for longer than the short run `make test`
# includes (CHAOS_DURATION; CHAOS_SEED replays a schedule).
chaos:
	CHAOS_DURATION=$${CHAOS_DURATION:-2m} $(GO) test -race -count=1 -run Chaos -timeout 10m -v ./internal/chaos/...

bench:
	@for m in $(MODULES); do (cd $$m && $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) $(PKGS)) || exit 1; done

lint: vet modcheck
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	@for m in $(MODULES); do (cd $$m && PATH="$(GOBIN):$$PATH" staticcheck $(PKGS)) || exit 1; done

fmt:
	gofmt -w $$(git ls-files '*.go')
