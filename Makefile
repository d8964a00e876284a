# chorus-cluster-health: `make demo` starts a local five-node cluster and prints where to look; `make test` runs every test.
SWIFT ?= swift
PORT ?= 8081
NODES ?= 5

# Debian packages the tests need, as COMMAND:PACKAGE (installed only when the command is missing).
BUILD_PACKAGES = pkg-config:pkg-config pkg-config=libsodium:libsodium-dev pkg-config=sqlite3:libsqlite3-dev pkg-config=zlib:zlib1g-dev
# The gRPC test clients: grpcio and grpcio-health-checking from PyPI (pip from Debian).
GRPC_CLIENT_PACKAGES = python=pip:python3-pip pip=grpc_health.v1.health_pb2:grpcio-health-checking
TEST_PACKAGES = $(BUILD_PACKAGES) openssl:openssl promtool:prometheus python=nacl.signing:python3-nacl python=yaml:python3-yaml curl:curl chromium:chromium $(GRPC_CLIENT_PACKAGES)
BENCH_PACKAGES = wrk:wrk curl:curl

# The benchmark programs are part of the package only with CHORUS_BENCHMARKS set (see Package.swift).
bench-%: export CHORUS_BENCHMARKS = 1

.PHONY: demo test build release fuzz bench-probes bench-gossip bench-cluster bench-services bench-cluster-view bench-auth bench-flood bench-history bench-grpc clean

build:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)
	$(SWIFT) build

demo:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES) curl:curl
	@echo "building chorus-cluster-health (the first build takes a few minutes)..."
	@$(SWIFT) build -q --product chorus-cluster-health
	@exec "$$($(SWIFT) build --show-bin-path)/chorus-cluster-health" demo --nodes $(NODES) --http-port $(PORT)

test:
	@scripts/ensure-packages.sh $(TEST_PACKAGES)
	cd deploy/prometheus && promtool check rules chorus-rules.yml && promtool test rules chorus-rules.test.yml
	@# The build, the real-time tests with the fuzzer beside them, then the simulations from a release build.
	SWIFT=$(SWIFT) scripts/test-phases.sh

# Coverage-guided fuzzing of the datagram path with libFuzzer and AddressSanitizer (see BENCHMARKS.md).
fuzz:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)
	scripts/fuzz.sh $(or $(RUNS),1000000)

release:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)
	$(SWIFT) build -c release

# Probe latency with wrk against a release build with 20 checks (see BENCHMARKS.md).
bench-probes:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES) $(BENCH_PACKAGES)
	$(SWIFT) build -c release --product probe-bench-server
	$(SWIFT) build -c release --product chorus-cluster-health
	scripts/bench-probes.sh "$$($(SWIFT) build -c release --show-bin-path)"

# Node processes on loopback beside as many hashicorp/memberlist processes (Benchmarks/memberlist-node,
# built here from Debian's Go packages, never by `make test`), one size after the other (see BENCHMARKS.md).
MEMBERLIST_GO = /usr/share/gocode/src/github.com/hashicorp/memberlist/memberlist.go
CLUSTER_SIZES ?= 32 64 128
# As BENCHMARKS.md's tables: the rest window begins once no node signed a new status for 60 s.
CLUSTER_FLAGS ?= --rest 60 --settle quiet
bench-cluster: release
	@scripts/ensure-packages.sh $(BENCH_PACKAGES) go:golang-go file=$(MEMBERLIST_GO):golang-github-hashicorp-memberlist-dev
	mkdir -p .build-bench
	cd Benchmarks/memberlist-node && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$(CURDIR)/.build-bench/go-cache" \
		go build -o "$(CURDIR)/.build-bench/memberlist-node" .
	python3 scripts/bench-cluster.py "$$($(SWIFT) build -c release --show-bin-path)/chorus-cluster-health" \
		--memberlist .build-bench/memberlist-node $(CLUSTER_FLAGS) $(CLUSTER_SIZES)

bench-gossip:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)
	$(SWIFT) build -c release --product chorus-cluster-health
	scripts/bench-gossip.sh "$$($(SWIFT) build -c release --show-bin-path)" 10

# Pub/sub delivery, DHT put+get and the probes' bytes between 16 in-process nodes on real UDP (see BENCHMARKS.md).
bench-services:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)
	$(SWIFT) build -c release --product services-bench
	"$$($(SWIFT) build -c release --show-bin-path)/services-bench" 16 100

# /cluster/health: the merge over the simulator's 1000-node view, and wrk against a five-node demo (see BENCHMARKS.md).
bench-cluster-view:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES) $(BENCH_PACKAGES)
	$(SWIFT) build -c release --product cluster-view-bench
	$(SWIFT) build -c release --product chorus-cluster-health
	scripts/bench-cluster-view.sh "$$($(SWIFT) build -c release --show-bin-path)"

# The event history: 1 000 000 events (write rate, bytes per event, /cluster/events latency), probes while recording (see BENCHMARKS.md).
bench-history:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES) $(BENCH_PACKAGES)
	$(SWIFT) build -c release --product history-bench
	scripts/bench-history.sh "$$($(SWIFT) build -c release --show-bin-path)"

# The cost of authenticating a datagram (sealing, opening, pair keys), release build (see BENCHMARKS.md).
bench-auth:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES)
	$(SWIFT) build -c release --product auth-bench
	"$$($(SWIFT) build -c release --show-bin-path)/auth-bench"

# Datagrams per second a node absorbs under a flood, with its probe's p99 meanwhile (see BENCHMARKS.md).
bench-flood:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES) $(BENCH_PACKAGES) python=nacl.signing:python3-nacl
	$(SWIFT) build -c release --product chorus-cluster-health
	/usr/bin/python3 scripts/bench-flood.py "$$($(SWIFT) build -c release --show-bin-path)" 10

# gRPC Check beside /health/ready (h2load, same run), and 1000 open Watch streams: memory, time to see a change (see BENCHMARKS.md).
bench-grpc:
	@scripts/ensure-packages.sh $(BUILD_PACKAGES) h2load:nghttp2-client $(GRPC_CLIENT_PACKAGES)
	$(SWIFT) build -c release --product chorus-cluster-health
	python3 scripts/bench-grpc.py "$$($(SWIFT) build -c release --show-bin-path)" 100000

clean:
	rm -rf .build .build-fuzz
