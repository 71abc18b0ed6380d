# hostd: see README.md. Everything here runs as root on Linux.
GO      ?= go
BIN     := bin/hostd
# hostd links C (an instance's init, hostd/guest/initc), so it needs cgo; it is linked statically
# (glibc's libc.a) so that it starts fast as an init and runs as it is inside guests.
BUILDFLAGS := -trimpath -tags netgo,osusergo -ldflags '-extldflags -static'
# Tests need root, real namespaces and cgroups; they run one package at a time so that daemons
# and their instances do not crowd a 2-core machine.
TESTFLAGS ?= -count=1 -p 1 -timeout 15m

.PHONY: build test test-kernels bench demo demo-quick generate lint check check-generated fuzz clean

build:
	CGO_ENABLED=1 $(GO) build $(BUILDFLAGS) -o $(BIN) ./hostd

# The tests share the binary just built (HOSTD_TEST_BINARY), from a directory every uid can
# traverse (guests run it), removed afterwards.
test: build
	@d=$$(mktemp -d /tmp/hostd-test-bin.XXXXXX) && chmod 755 $$d && cp $(BIN) $$d/hostd && \
	  HOSTD_TEST_BINARY=$$d/hostd $(GO) test $(TESTFLAGS) ./... && \
	  HOSTD_TEST_BINARY=$$d/hostd $(GO) test -race -count=1 ./memscrub ./hostd/guest/... ./hostd/audit ./hostd/sigv4; \
	  rc=$$?; rm -rf $$d; exit $$rc

# The kernel matrix: boots Debian's kernels in QEMU (downloaded with apt-get into .cache/kernels,
# never installed) and runs the tests inside as root, per scripts/kernels/rows; ROWS="NAME …" for
# some of them. Prints the matrix; README.md shows the last one measured.
test-kernels:
	bash scripts/kernels/run $(ROWS)

# Short fuzzing runs of every parser, and of the datapath against the oracle; `go test -fuzz` runs them for as long as you like.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseSize -fuzztime 20s ./hostd/api
	$(GO) test -run '^$$' -fuzz FuzzIDKinds -fuzztime 20s ./hostd/api
	$(GO) test -run '^$$' -fuzz FuzzParseRateFlag -fuzztime 20s ./hostd/api
	$(GO) test -run '^$$' -fuzz FuzzParseBlock -fuzztime 20s ./vnet
	$(GO) test -run '^$$' -fuzz FuzzParseIpPermissions -fuzztime 20s ./firewall
	$(GO) test -run '^$$' -fuzz FuzzDatapathMatchesOracle -fuzztime 20s ./vnet
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 20s ./hostd/ec2query
	$(GO) test -run '^$$' -fuzz FuzzParseFilters -fuzztime 20s ./hostd/ec2query
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 20s ./hostd/sigv4
	$(GO) test -run '^$$' -fuzz FuzzPolicy -fuzztime 20s ./hostd/iam
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 20s -fuzzminimizetime 3s ./hostd/audit
	$(GO) test -run '^$$' -fuzz FuzzFrame -fuzztime 20s ./hostd/guest/initc
	$(GO) test -run '^$$' -fuzz FuzzParseConfig -fuzztime 20s ./hostd/guest/initc
	$(GO) test -run '^$$' -fuzz FuzzServeDNS -fuzztime 20s ./hostd/vpcdns
	$(GO) test -run '^$$' -fuzz FuzzToken -fuzztime 20s ./hostd/metadata
	$(GO) test -run '^$$' -fuzz FuzzCredentialsProfile -fuzztime 20s ./hostd

bench: build
	$(GO) run ./scripts/bench -hostd $(BIN) -out BENCHMARKS.md

demo: build
	bash scripts/demo.sh

# The same attacks as make demo; prints only the scorecard.
demo-quick:
	@$(MAKE) -s build
	@bash scripts/demo.sh --quick

# Regenerates the eBPF objects from bpf/*.c (needs clang and llvm: scripts/install-bpf-deps.sh).
generate:
	$(GO) generate ./bpf

# Fails when the committed eBPF objects are not what `make generate` makes from bpf/*.c (skipped,
# loudly, where clang is missing; under CI=true that fails instead).
check-generated:
	bash scripts/check-generated

lint: check
	@test -z "$$(gofmt -l .)" || { gofmt -l . >&2; echo "gofmt would change the files above: run gofmt -w on them" >&2; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Fails when git tracks a build output (bin/, or any ELF file but the generated eBPF object).
check:
	bash scripts/check-tracked

clean:
	rm -rf bin
