#!/usr/bin/env bash
# Builds and runs the many-checkpoints benchmark: the median time of one durable save, window by
# window, while every checkpoint is kept (10,000 by default), and the last window's median over
# the first's. Usage: bench/many_checkpoints.sh [DIR] [extra options of cairn-bench-many-checkpoints]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_BUILD_BENCH=ON \
  -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-bench -j "${CAIRN_JOBS:-2}" --target cairn-bench-many-checkpoints
parent=$(mktemp -d /var/tmp/cairn-bench.XXXXXX)
trap 'rm -rf "$parent"' EXIT
./build-bench/bench/cairn-bench-many-checkpoints "${1:-$parent/many}" "${@:2}"
