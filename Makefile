# hostd: see README.md. Everything here runs as root on Linux.
GO      ?= go
BIN     := bin/hostd
# hostd links C (an instance's init, hostd/guest/initc), so it needs cgo; it is linked statically
# (glibc's libc.a) so that it starts fast as an init and runs as it is inside guests.
BUILDFLAGS := -trimpath -tags netgo,osusergo -ldflags '-extldflags -static'
# Tests need root, real namespaces and cgroups; they run one package at a time so that daemons
# and their instances do not crowd a 2-core machine.
TESTFLAGS ?= -count=1 -p 1 -timeout 15m

.PHONY: build test bench demo generate lint fuzz clean

build:
	CGO_ENABLED=1 $(GO) build $(BUILDFLAGS) -o $(BIN) ./hostd

test: build
	$(GO) test $(TESTFLAGS) ./...
	$(GO) test -race -count=1 ./memscrub ./hostd/guest/...

# Short fuzzing runs of every parser, and of the datapath against the oracle; `go test -fuzz` runs them for as long as you like.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseSize -fuzztime 20s ./hostd/api
	$(GO) test -run '^$$' -fuzz FuzzParseBlock -fuzztime 20s ./vnet
	$(GO) test -run '^$$' -fuzz FuzzParseIpPermissions -fuzztime 20s ./firewall
	$(GO) test -run '^$$' -fuzz FuzzDatapathMatchesOracle -fuzztime 20s ./vnet
	$(GO) test -run '^$$' -fuzz FuzzFrame -fuzztime 20s ./hostd/guest/initc
	$(GO) test -run '^$$' -fuzz FuzzParseConfig -fuzztime 20s ./hostd/guest/initc

bench: build
	$(GO) run ./scripts/bench -hostd $(BIN) -out BENCHMARKS.md

demo: build
	bash scripts/demo.sh

# Regenerates the eBPF objects from bpf/*.c (needs clang and llvm: scripts/install-bpf-deps.sh).
generate:
	$(GO) generate ./bpf

lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

clean:
	rm -rf bin
