#!/usr/bin/env bash
# Installs everything cairn needs on Debian: the packages from Debian's archive, then a Python
# venv (.venv, made from Debian's /usr/bin/python3 with --system-site-packages so Debian's numpy
# is visible) with the PyPI packages the tests use. Idempotent, and quick when all is present.
# Runs as root, or through sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config    # build
  clang libclang-rt-dev                           # ASan/UBSan build and libFuzzer
  nlohmann-json3-dev libxxhash-dev                # library: JSON headers, XXH3 checksums
  libtorch-dev libcli11-dev                       # LibTorch adapter and the demo
  googletest libgtest-dev libssl-dev              # tests (SHA-256 for interop digests)
  python3 python3-venv python3-numpy              # interop tests with Hugging Face safetensors
  python3-dev pybind11-dev python3-torch          # the Python package and its PyTorch tests
  libopenmpi-dev openmpi-bin                      # sharded multi-rank checkpoints (cairn_mpi)
  fio                                             # benchmark: the raw-disk contenders (bench/)
)
# Into the venv from PyPI: the interop reference, the test runner, the wheel builder.
python_packages=(safetensors==0.4.5 pytest==8.3.3 scikit-build-core==0.10.7)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "install-deps: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  echo "install-deps: creating $venv from /usr/bin/python3"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c "import safetensors, pytest, scikit_build_core" 2>/dev/null; then
  echo "install-deps: installing ${python_packages[*]} into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${python_packages[@]}"
fi
