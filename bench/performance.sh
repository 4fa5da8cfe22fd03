#!/usr/bin/env bash
# The performance benchmark in one command: installs what it needs (Debian packages, the venv),
# builds cairn-bench (Release, with LibTorch), and runs every workload and contender with
# medians of 5, the Python torch rows through the project's venv. docs/performance.md explains
# the table. Needs about 12 GiB of free disk in DIR and 8 GiB of memory; the cold rows drop
# the page cache (root; left out otherwise).
# Usage: bench/performance.sh [DIR] [options of cairn-bench, e.g. --json out.json]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_BUILD_BENCH=ON \
  -DCAIRN_BUILD_TORCH=ON -DCAIRN_BUILD_TESTS=OFF -DCAIRN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-bench -j "${CAIRN_JOBS:-2}" --target cairn-bench
dir=${1:-/var/tmp/cairn-bench}
shift || true
mkdir -p "$dir"
exec ./build-bench/bench/cairn-bench "$dir" --python "$PWD/.venv/bin/python" "$@"
