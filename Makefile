# The two commands a user needs: `make run` and `make test`. Both install their own packages.
# Other targets: bench (side-by-side with etcd 3.4), sim (long raft simulator campaign),
# soak, fuzz, install.
JOBS ?= $(shell nproc)
BUILD_RELEASE := build/release
BUILD_TEST := build/test
PREFIX ?= /usr/local

.PHONY: deps build build-test run test bench sim fuzz soak install clean

deps:
	@scripts/install-deps.sh

# ccache (installed by deps) makes rebuilds cheap, also across clones of the repo: paths are
# hashed relative to the checkout.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
LAUNCHER := $(if $(shell command -v ccache),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

$(BUILD_RELEASE)/build.ninja:
	cmake -S . -B $(BUILD_RELEASE) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(LAUNCHER)

$(BUILD_TEST)/build.ninja:
	cmake -S . -B $(BUILD_TEST) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DETCDPP_SANITIZE=ON $(LAUNCHER)

build: deps $(BUILD_RELEASE)/build.ninja
	cmake --build $(BUILD_RELEASE) -j $(JOBS)

build-test: deps $(BUILD_TEST)/build.ninja
	cmake --build $(BUILD_TEST) -j $(JOBS)

# Starts a single-node server on etcd's defaults: http://localhost:2379, data in ./default.etcd.
run: build
	$(BUILD_RELEASE)/src/cmd/etcdpp $(ARGS)

# Unit, property, simulator, end-to-end and differential tests, all on the ASan/UBSan build: the
# e2e tests drive the sanitized server binary with real clients, so one build serves everything.
# First a short libFuzzer run of each fuzz target (clang build in build/fuzz; a crash fails
# it), so that ctest's summary is the last thing CI prints.
FUZZ_SMOKE_SECONDS ?= 20
test: build-test
	scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)
	cd $(BUILD_TEST) && ETCDPP_BIN=$(CURDIR)/$(BUILD_TEST)/src/cmd/etcdpp \
	  ctest --output-on-failure -j $(JOBS) --timeout 600

bench: build
	bench/run.sh $(if $(QUICK),--quick)

SEEDS ?= 100000
sim: build
	$(BUILD_RELEASE)/tests/sim/raft_sim --seeds=$(SEEDS)

fuzz:
	@scripts/install-deps.sh --fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

install: build
	install -D -m 0755 $(BUILD_RELEASE)/src/cmd/etcdpp $(DESTDIR)$(PREFIX)/bin/etcdpp
	ln -sf etcdpp $(DESTDIR)$(PREFIX)/bin/etcd

clean:
	rm -rf build
