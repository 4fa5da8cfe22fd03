#!/usr/bin/env bash
# The main job: installs what it needs, builds cairn and runs the demo in a fresh folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "${CAIRN_JOBS:-2}" --target cairn-example-save-restore >/dev/null
out=${1:-$(mktemp -d /tmp/cairn-demo.XXXXXX)}
echo "cairn demo: files go to $out"
echo
./build/examples/cairn-example-save-restore "$out"
