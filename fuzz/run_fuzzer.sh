#!/usr/bin/env bash
# Runs a libFuzzer binary for a bounded time over seed folders, in a scratch working corpus,
# and prints the number of executions. Usage: run_fuzzer.sh BINARY SECONDS DICT SEED_DIR...
set -euo pipefail
binary=$(realpath "$1") seconds=$2 dict=$(realpath "$3")
shift 3
seeds=()
for seed in "$@"; do seeds+=("$(realpath "$seed")"); done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cd "$work"  # crash reproducers land here; the log shows them
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -dict="$dict" "$work/corpus" "${seeds[@]}" 2>"$work/log" || {
  tail -n 60 "$work/log"
  exit 1
}
grep -E "^(Done|stat::number_of_executed_units)" "$work/log" || tail -n 5 "$work/log"
