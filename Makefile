# Parley — the two commands for a fresh Debian bookworm machine (as root or with sudo):
#   make run    set up, build, start the server on its embedded defaults (127.0.0.1:8080, ./data)
#   make test   set up, build, run every test through ctest
# Also: make deb (the Debian package), make test-system (it, installed on a booted Debian VM),
# make test-asan (ASan + UBSan build and tests), make bench, make soak, make fuzz, make format.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 10
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup build run test test-asan deb test-system bench soak fuzz format clean

all: build

setup:
	@scripts/setup

$(BUILD)/build.ninja: | setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: setup $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/parley server

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The Debian package and its -dbgsym, from the build (docs/deploy.md); lintian when installed.
deb: build
	cd $(BUILD) && rm -f parley_*.deb parley-dbgsym_*.ddeb && cpack -G DEB
	@if command -v lintian >/dev/null; then lintian $(BUILD)/parley_*.deb $(BUILD)/parley-dbgsym_*.ddeb; fi
	@ls $(abspath $(BUILD))/parley_*.deb $(abspath $(BUILD))/parley-dbgsym_*.ddeb

# Installs the package on a Debian VM under qemu and checks it under real systemd (tests/system/run,
# docs/deploy.md); needs root, mmdebstrap and qemu-system-x86, and takes tens of minutes.
test-system: deb
	tests/system/run $$(ls -t $(BUILD)/parley_*.deb | head -n1)

$(ASAN_BUILD)/build.ninja: | setup
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON $(CMAKE_FLAGS)

# detect_stack_use_after_return: a reference kept to a function's local after it returned reads
# a dead stack frame; ASan reports it only with this option.
test-asan: setup $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

bench: build
	cmake --build $(BUILD) --target benches -j $(JOBS)
	scripts/run-benches $(BUILD)

# Load + restarts (SIGTERM and SIGKILL) for SOAK_MINUTES (default 5); fails on a lost
# acknowledged message (scripts/soak).
soak: build
	scripts/soak $(BUILD)/parley

# libFuzzer targets (fuzz/, clang): build, then run each for FUZZ_SECONDS. Once built, `make test`
# runs them briefly too (ctest fuzz.brief).
fuzz: setup
	cmake -S fuzz -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
