#!/usr/bin/env bash
# The main job: installs what it needs, builds cairn and runs the demo in a fresh folder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "cairn demo: building into build/"
if ! { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
       cmake --build build -j "${CAIRN_JOBS:-2}" --target cairn-example-save-restore; } >"$log" 2>&1; then
  cat "$log"
  echo "cairn demo: the build failed (output above)" >&2
  exit 1
fi
out=${1:-$(mktemp -d /tmp/cairn-demo.XXXXXX)}
echo "cairn demo: files go to $out"
echo
./build/examples/cairn-example-save-restore "$out"
