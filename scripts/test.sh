#!/usr/bin/env bash
# The whole test suite: installs what it needs, then
#   1. builds with GCC (warnings are errors), LibTorch adapter, demo, Python package and MPI
#      coordinator included, and runs every test, including a kill -9/resume run of the demo, a
#      project built against the installed package with find_package(cairn), the pytest suite of
#      the Python package, a wheel built by pip from a clean copy of the sources, and sharded
#      saves under mpirun with 1, 2 and 4 ranks, and a short run of the performance benchmark
#      (that it works; its targets are judged by bench/performance.sh, never by tests);
#   2. builds the LibTorch adapter, its tests and the demo again with GCC, against the libtorch
#      inside PyPI's torch 2 wheel (.venv-torch2; a CUDA build, used on the CPU: no CUDA toolkit,
#      no GPU), and runs those tests, the demo's kill -9/resume run included (stage 1 covers
#      Debian's libtorch 1.13);
#   3. builds again with clang under AddressSanitizer + UndefinedBehaviorSanitizer and runs the
#      same tests as stage 1 (multi-rank ones with ranks on threads, not Open MPI's), plus bounded
#      libFuzzer runs over the safetensors reader and the checkpoint manifest parser.
# Build folders: build/, build-torch2/ and build-asan/. CAIRN_JOBS sets the parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=${CAIRN_JOBS:-2}

echo "== GCC build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TORCH=ON \
  -DCAIRN_BUILD_PYTHON=ON -DCAIRN_BUILD_MPI=ON -DCAIRN_BUILD_BENCH=ON
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure

echo "== LibTorch adapter against PyPI's libtorch 2"
# Only what uses LibTorch is built (libcairn, the adapter, its tests, the demo); Python, MPI and
# the benchmarks stay off. torch.utils.cmake_prefix_path is the wheel's share/cmake.
torch2_prefix=$(.venv-torch2/bin/python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
cmake -S . -B build-torch2 -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TORCH=ON \
  -DCAIRN_BUILD_PYTHON=OFF -DCAIRN_BUILD_MPI=OFF -DCAIRN_BUILD_BENCH=OFF \
  -DCMAKE_PREFIX_PATH="$torch2_prefix"
cmake --build build-torch2 -j "$jobs" --target test_torch_adapter cairn-demo
ctest --test-dir build-torch2 -j "$jobs" --output-on-failure -R '^(Torch[A-Za-z]*\.|demo_kill_resume$)'

echo "== clang ASan+UBSan build, tests and fuzzing"
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCAIRN_SANITIZE=address,undefined -DCAIRN_BUILD_FUZZ=ON -DCAIRN_BUILD_EXAMPLES=OFF
cmake --build build-asan -j "$jobs"
ctest --test-dir build-asan -j "$jobs" --output-on-failure
