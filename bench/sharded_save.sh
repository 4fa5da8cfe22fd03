#!/usr/bin/env bash
# Builds and runs the sharded-save benchmark: 2 GiB saved by 4 ranks against rank 0 alone.
# Usage: bench/sharded_save.sh [DIR] [RANKS] [extra options of cairn-bench-sharded-save]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_BUILD_BENCH=ON \
  -DCAIRN_BUILD_MPI=ON -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-bench -j "${CAIRN_JOBS:-2}" --target cairn-bench-sharded-save
dir=${1:-$(mktemp -d /var/tmp/cairn-bench.XXXXXX)}
ranks=${2:-4}
shift 2 || shift $# || true
mpirun --oversubscribe --allow-run-as-root -np "$ranks" \
  ./build-bench/bench/cairn-bench-sharded-save "$dir" "$@"
