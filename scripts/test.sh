#!/usr/bin/env bash
# The whole test suite: installs what it needs, then
#   1. builds with GCC (warnings are errors), LibTorch adapter, demo and Python package included,
#      and runs every test, including a kill -9/resume run of the demo, a project built against
#      the installed package with find_package(cairn), the pytest suite of the Python package and
#      a wheel built by pip from a clean copy of the sources;
#   2. builds again with clang under AddressSanitizer + UndefinedBehaviorSanitizer and runs the
#      same tests, plus a bounded libFuzzer run over the safetensors reader.
# Build folders: build/ and build-asan/. CAIRN_JOBS sets the parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=${CAIRN_JOBS:-2}

echo "== GCC build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TORCH=ON \
  -DCAIRN_BUILD_PYTHON=ON
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure

echo "== clang ASan+UBSan build, tests and fuzzing"
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCAIRN_SANITIZE=address,undefined -DCAIRN_BUILD_FUZZ=ON -DCAIRN_BUILD_EXAMPLES=OFF
cmake --build build-asan -j "$jobs"
ctest --test-dir build-asan -j "$jobs" --output-on-failure
