#!/usr/bin/env bash
# Builds and runs the save/load benchmark: 1 GiB in 100 F32 tensors against dd, medians of 5.
# Usage: bench/save_load_vs_dd.sh [DIR] [extra options of cairn-bench-save-load]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_BUILD_BENCH=ON \
  -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-bench -j "${CAIRN_JOBS:-2}" --target cairn-bench-save-load
dir=${1:-$(mktemp -d /var/tmp/cairn-bench.XXXXXX)}
shift || true
./build-bench/bench/cairn-bench-save-load "$dir" "$@"
