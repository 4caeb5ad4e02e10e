# DSMIL: the two set-up commands are `make up` and `make test` (see README.md).
JOBS  ?= $(shell nproc)
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
CMAKE_FLAGS ?=

.PHONY: all deps test-deps build fuzz-build up down status test test-unit test-fuzz bench clean

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target dsmild dsmilctl

# Brings up the local three-node cluster (node-a SOC, node-b AI, node-c DATA) and leaves it running.
up: build
	@scripts/cluster.sh up

down:
	@scripts/cluster.sh down

status:
	@scripts/cluster.sh status

# Every test: unit, integration and cluster tests in the normal build (-Werror), then the
# parser tests and fuzz targets in the clang ASan/UBSan build.
test: test-deps
	@scripts/test.sh

bench: test-deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)
	@scripts/bench.sh

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
