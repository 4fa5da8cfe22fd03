#!/usr/bin/env bash
# The whole test suite: installs what it needs, then
#   1. builds with GCC (warnings are errors), LibTorch adapter, demo, Python package and MPI
#      coordinator included, and runs every test, including a kill -9/resume run of the demo, a
#      project built against the installed package with find_package(cairn), the pytest suite of
#      the Python package, a wheel built by pip from a clean copy of the sources, and sharded
#      saves under mpirun with 1, 2 and 4 ranks, and a short run of the performance benchmark
#      (that it works; its targets are judged by bench/performance.sh, never by tests);
#   2. builds again with clang under AddressSanitizer + UndefinedBehaviorSanitizer and runs the
#      same tests (multi-rank ones with ranks on threads, not Open MPI's), plus bounded
#      libFuzzer runs over the safetensors reader and the checkpoint manifest parser.
# Build folders: build/ and build-asan/. CAIRN_JOBS sets the parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=${CAIRN_JOBS:-2}

echo "== GCC build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TORCH=ON \
  -DCAIRN_BUILD_PYTHON=ON -DCAIRN_BUILD_MPI=ON -DCAIRN_BUILD_BENCH=ON
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure

echo "== clang ASan+UBSan build, tests and fuzzing"
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCAIRN_SANITIZE=address,undefined -DCAIRN_BUILD_FUZZ=ON -DCAIRN_BUILD_EXAMPLES=OFF
cmake --build build-asan -j "$jobs"
ctest --test-dir build-asan -j "$jobs" --output-on-failure
