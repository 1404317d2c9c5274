# The two set-up commands of the README, plus conveniences.  The real build is CMake.
MAKEFLAGS  += --no-print-directory
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
WERROR     ?= ON

.PHONY: all deps build run test test-asan clean format

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCERTHUB_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Starts certhubd in the foreground on an embedded SQLite store in ./var, at
# https://127.0.0.1:8443 (LISTEN=ADDR:PORT for another).  The first start prints the admin
# token and writes var/ca.pem.  It builds the two programs alone (the tests, fuzz targets and
# benchmarks are make test's).
LISTEN     ?= 127.0.0.1:8443
run: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCERTHUB_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target certhubd certhub_cli
	@$(BUILD)/certhubd --data-dir var --listen $(LISTEN)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	@$(MAKE) --no-print-directory test-asan

# Unit tests, fuzz corpus replays and the integration tests labelled asan (tests/CMakeLists.txt)
# again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCERTHUB_SANITIZE=ON -DCERTHUB_WERROR=$(WERROR) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$(JOBS) -L 'unit|fuzz|asan'

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
