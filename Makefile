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

$(BUILD_RELEASE)/build.ninja:
	cmake -S . -B $(BUILD_RELEASE) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(BUILD_TEST)/build.ninja:
	cmake -S . -B $(BUILD_TEST) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DETCDPP_SANITIZE=ON

build: deps $(BUILD_RELEASE)/build.ninja
	cmake --build $(BUILD_RELEASE) -j $(JOBS)

build-test: deps $(BUILD_TEST)/build.ninja
	cmake --build $(BUILD_TEST) -j $(JOBS)

# Starts a single-node server on etcd's defaults: http://localhost:2379, data in ./default.etcd.
run: build
	$(BUILD_RELEASE)/src/cmd/etcdpp $(ARGS)

# Unit, property, simulator and end-to-end tests on the sanitized build. The e2e tests use the
# release binary as well (real processes, real clients), so both are built.
test: build-test build
	cd $(BUILD_TEST) && ETCDPP_BIN=$(CURDIR)/$(BUILD_RELEASE)/src/cmd/etcdpp \
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
