#!/usr/bin/env bash
# cairn-demo killed with SIGKILL at random moments (saves included) and restarted until it
# finishes must write the same --final bytes as a run that never stopped.
# Usage: kill_resume_test.sh CAIRN_DEMO [KILLS]
set -euo pipefail
demo=$1
kills=${2:-6}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=(--epochs 3 --seed 7 --samples 8192 --quiet)

start=$(date +%s)
"$demo" --dir "$work/reference" "${args[@]}" --final "$work/reference.safetensors"
RANDOM=${CAIRN_TEST_SEED:-4242}
for ((kill = 1; kill <= kills; kill++)); do
  "$demo" --dir "$work/run" "${args[@]}" --save-interval 0.2 --final "$work/run.safetensors" &
  pid=$!
  sleep "$((RANDOM % 20 / 10)).$((RANDOM % 10))"  # 0.0 to 1.9 s into the run
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -f "$work/run.safetensors" ]; then break; fi  # finished before the kill
done
echo "killed $((kill > kills ? kills : kill)) times; finishing the run"
"$demo" --dir "$work/run" "${args[@]}" --save-interval 0.2 --final "$work/run.safetensors"
if cmp "$work/reference.safetensors" "$work/run.safetensors"; then
  echo "final weights identical to the uninterrupted run ($(($(date +%s) - start)) s)"
else
  echo "FAIL: resumed training diverged from the uninterrupted run" >&2
  exit 1
fi
