#!/usr/bin/env bash
# A rank killed in the middle of a 4-rank save: the job dies, nothing partial is visible, the
# previous checkpoint restores on 2 ranks, and the next job (3 ranks) saves over the leftovers.
# Usage: kill_rank.sh MPIRUN SHARDED_JOB
set -u
mpirun=("$1" --oversubscribe --allow-run-as-root)
job=$2
dir=$(mktemp -d /tmp/cairn-kill-rank.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "kill_rank: $*" >&2; exit 1; }

"${mpirun[@]}" -np 4 "$job" "$dir" save 0 1 || fail "the first job failed"
if "${mpirun[@]}" -np 4 "$job" "$dir" save 2 2 2 > "$dir.log" 2>&1; then
  cat "$dir.log"; rm -f "$dir.log"
  fail "the job whose rank 2 was killed exited 0"
fi
grep -q "signal 9" "$dir.log" || { cat "$dir.log"; rm -f "$dir.log"; fail "rank 2 was not killed"; }
rm -f "$dir.log"
echo "kill_rank: the job died with rank 2 killed mid-save"
ls "$dir/checkpoints"
"${mpirun[@]}" -np 2 "$job" "$dir" expect 1 || fail "step 1 did not restore on 2 ranks"
"${mpirun[@]}" -np 3 "$job" "$dir" save 2 3 || fail "the next job could not save"
"${mpirun[@]}" -np 1 "$job" "$dir" expect 3 || fail "step 3 did not restore on 1 rank"
[ -z "$(ls -A "$dir/staging" | grep -Fvx .cairn-owned)" ] || fail "staging/ holds leftovers: $(ls -A "$dir/staging")"
echo "kill_rank: passed"
