#!/usr/bin/env bash
# The main job: installs what it needs, builds cairn with its LibTorch demo, then shows a real
# training run that is killed with SIGKILL, resumes from its last checkpoint, and ends with
# exactly the weights of a run that never stopped.
# Usage: scripts/demo.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "Building cairn and cairn-demo into build/ (a few minutes the first time)..."
if ! { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_BUILD_TORCH=ON &&
       cmake --build build -j "${CAIRN_JOBS:-2}" --target cairn-demo; } >"$log" 2>&1; then
  cat "$log"
  echo "demo: the build failed (output above)" >&2
  exit 1
fi
demo=./build/examples/cairn-demo
out=${1:-$(mktemp -d /tmp/cairn-demo.XXXXXX)}
mkdir -p "$out"
# A rerun into the same folder starts afresh: what an earlier demo left would be resumed.
rm -rf "$out/run" "$out/reference" "$out/run-final.safetensors" "$out/reference-final.safetensors"
args=(--epochs 4 --seed 42 --save-interval 1 --keep 3)

echo
echo "== 1. Train an MLP for 4 epochs into $out/run, saving every second; kill -9 it after 6 s"
"$demo" --dir "$out/run" "${args[@]}" --final "$out/run-final.safetensors" &
pid=$!
sleep 6
kill -9 "$pid" 2>/dev/null || echo "   (the run had already finished: this machine is fast)"
wait "$pid" 2>/dev/null || true
echo "   *** killed with SIGKILL: no chance to clean up ***"

echo
echo "== 2. Run the same command again: it resumes from the newest valid checkpoint"
"$demo" --dir "$out/run" "${args[@]}" --final "$out/run-final.safetensors"

echo
echo "== 3. For comparison, the same training without interruption (into $out/reference)"
"$demo" --dir "$out/reference" "${args[@]}" --final "$out/reference-final.safetensors" --quiet
if cmp -s "$out/run-final.safetensors" "$out/reference-final.safetensors"; then
  echo "   The interrupted run ended with exactly the same weights, byte for byte:"
  sha256sum "$out/run-final.safetensors" "$out/reference-final.safetensors" | sed 's/^/   /'
else
  echo "   MISMATCH: the resumed run ended with different weights" >&2
  exit 1
fi

echo
echo "== 4. What is on disk"
"$demo" --dir "$out/run" --list
echo "   best/ -> $(readlink "$out/run/best") (the model of the best epoch, kept apart from retention)"
echo "   Each checkpoint folder holds model.safetensors, training_state.safetensors and MANIFEST.json;"
echo "   any safetensors reader opens the .safetensors files."
