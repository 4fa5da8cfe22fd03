#!/usr/bin/env bash
# Installs cairn from BUILD_DIR into a temporary prefix, builds the consumer project against it
# with find_package(cairn), and runs it.
set -euo pipefail
build_dir=$1
source_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/cairn/cairnConfig.cmake"
test -f "$work/prefix/include/cairn/cairn.hpp"
ls "$work/prefix/lib/"libcairn.so* >/dev/null
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer" "$work/out.safetensors"
