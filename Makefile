# DSMIL: the two set-up commands are `make up` and `make test` (see README.md).
JOBS  ?= $(shell nproc)
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
CMAKE_FLAGS ?=

.PHONY: all deps test-deps build fuzz-build up down status test test-unit test-fuzz bench clean image

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

# The DSMIL image (deploy/docker/Dockerfile, full multi-stage build: compiles inside).
# BASE=debian:bookworm-slim needs a registry; BASE=dsmil-base:bookworm uses the local
# debootstrap image (scripts/make-base-image.sh makes it when missing). BuildKit builds only
# the stages the runtime target needs (the legacy builder would also run runtime-prebuilt).
BASE ?= debian:bookworm-slim
IMAGE ?= dsmil:5.0
image:
	@if [ "$(BASE)" = dsmil-base:bookworm ]; then scripts/make-base-image.sh; fi
	DOCKER_BUILDKIT=1 docker build --network=host -f deploy/docker/Dockerfile --target runtime \
	  --build-arg BASE=$(BASE) --build-arg JOBS=$(JOBS) -t $(IMAGE) .

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
