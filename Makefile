# Alexis — auto-remediation pipeline.
#   make demo   run the whole pipeline locally and watch an alert get remediated (first run: 1-4 min)
#   make demo-keep  the same, then keep it running (console URL, token) until Ctrl-C
#   make test   run the whole test suite (race detector on)
#   make bench  run the benchmark suite and print one table (~15 min; see deploy/bench/bench.sh)
#   make soak   1,000 alerts/s for 10 minutes, every alert accounted for (deploy/bench/soak.sh)
#   make overload  5x the classifier's capacity for 60 s (deploy/bench/overload.sh)
#   make modules   each module builds and is tidy on its own (GOWORK=off; needs the Go module proxy or cache)
GO        ?= go
PKGS      := ./shared/... ./poller/... ./classifier/... ./actionhandler/... ./deploy/...
BIN       := bin
SERVICES  := poller classifier actionhandler

.PHONY: all build demo demo-keep deps-demo test unit vet fmt-check modules deps images stack-test bench soak overload clean

all: build

build:
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do $(GO) build -trimpath -o $(BIN)/$$s ./$$s/cmd/$$s || exit 1; done
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/alexisctl ./actionhandler/cmd/alexisctl
	@echo "built: $(addprefix $(BIN)/,$(SERVICES) alexisctl)"

# Installs what the tests need (OpenSSH's sshd, PostgreSQL, Chromium, ...) when missing.
deps:
	@deploy/install-deps.sh test

# The demo needs only OpenSSH (install-deps.sh demo); DEMO_FLAGS: e.g. -logs.
deps-demo:
	@deploy/install-deps.sh demo

demo: deps-demo
	@GO=$(GO) deploy/cmd/demo/demo.sh $(DEMO_FLAGS)

demo-keep: deps-demo
	@GO=$(GO) deploy/cmd/demo/demo.sh -keep $(DEMO_FLAGS)

test: deps vet fmt-check
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

unit:
	$(GO) test -race -short $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l shared poller classifier actionhandler deploy); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every module outside the workspace: its go.mod requires shared (replace
# => ../shared), so it builds and go mod tidy has nothing to change; go work
# sync keeps the versions the same as the workspace's.
MODULES := shared poller classifier actionhandler deploy
modules:
	@for m in $(MODULES); do \
	  (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) mod tidy -diff) || { echo "module $$m does not stand alone"; exit 1; }; \
	done; echo "modules: $(MODULES) build and are tidy with GOWORK=off"

# Container images, built offline (see docs/deploy.md).
images:
	deploy/docker/build.sh

# docker stack deploy on a real engine (as root; starts its own dockerd if none runs).
stack-test:
	deploy/stack-test.sh

# Benchmarks on loopback (knobs: environment variables, see the scripts' headers).
bench: deps
	deploy/bench/bench.sh

soak: deps
	deploy/bench/soak.sh

overload: deps
	deploy/bench/overload.sh

clean:
	rm -rf $(BIN) .demo
