#!/usr/bin/env bash
# The sharded example interrupted and resumed on other numbers of ranks ends with the same
# weights as one uninterrupted run: 3 epochs on 4 ranks, then up to 6 on 3 ranks, against 6 on 1.
# Usage: sharded_resume.sh MPIRUN EXAMPLE
set -euo pipefail
mpirun=("$1" --oversubscribe --allow-run-as-root)
example=$2
dir=$(mktemp -d /tmp/cairn-sharded-example.XXXXXX)
trap 'rm -rf "$dir"' EXIT
"${mpirun[@]}" -np 4 "$example" "$dir/resumed" 3
resumed=$("${mpirun[@]}" -np 3 "$example" "$dir/resumed" 6 | tee /dev/stderr | grep "weight after")
straight=$("${mpirun[@]}" -np 1 "$example" "$dir/straight" 6 | tee /dev/stderr | grep "weight after")
echo "resumed:  $resumed"
echo "straight: $straight"
[ "$resumed" = "$straight" ] || { echo "sharded_resume: the weights differ" >&2; exit 1; }
