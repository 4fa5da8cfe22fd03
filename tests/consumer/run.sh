#!/usr/bin/env bash
# Installs cairn from BUILD_DIR into a temporary prefix, builds the consumer project against it
# with find_package(cairn), and runs it. With PYTHON, the Python package must be installed under
# lib/python3/dist-packages/cairn and work from there with PYTHONPATH set.
# Usage: run.sh BUILD_DIR [PYTHON]
set -euo pipefail
build_dir=$1
python=${2:-}
source_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/cairn/cairnConfig.cmake"
test -f "$work/prefix/include/cairn/cairn.hpp"
ls "$work/prefix/lib/"libcairn.so* >/dev/null
# An adapter header is installed exactly when its library is.
for adapter in torch mpi; do
  if ls "$work/prefix/lib/"libcairn_$adapter.so* >/dev/null 2>&1; then
    test -f "$work/prefix/include/cairn/$adapter.hpp"
  else
    test ! -e "$work/prefix/include/cairn/$adapter.hpp"
  fi
done
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer" "$work/out.safetensors"
if [ -n "$python" ]; then
  site="$work/prefix/lib/python3/dist-packages"
  ls "$site"/cairn/_core*.so >/dev/null
  (cd "$work" && PYTHONPATH="$site" "$python" -c '
import sys, numpy, cairn
assert cairn.__file__.startswith(sys.argv[1]), cairn.__file__
cairn.save_file({"a": numpy.arange(3)}, "py.safetensors")
assert cairn.load_file("py.safetensors", tensor_type="numpy")["a"].tolist() == [0, 1, 2]
print("python package OK from", cairn.__file__)' "$site")
fi
