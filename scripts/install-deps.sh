#!/usr/bin/env bash
# Installs everything cairn needs on Debian: the packages from Debian's archive, then two Python
# venvs made from Debian's /usr/bin/python3, each with the PyPI packages the tests use:
#   .venv         --system-site-packages, so Debian's torch 1.13 and numpy 1.24 are visible;
#   .venv-torch2  isolated, with torch 2 and numpy 2 from PyPI at exact versions.
# Idempotent, and quick when all is present. Runs as root, or through sudo (for apt only) when not
# root; the venvs belong to whoever runs it.
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

# The PyPI torch 2 venv. Not --system-site-packages: Debian's torch and numpy must not shadow
# PyPI's. torch's wheels are CUDA builds that run on the CPU, about 3 GB with their nvidia-*
# dependencies, so they are downloaded once into a wheelhouse outside the tree (pip's own HTTP
# cache keeps nothing when the index sends no caching headers) that every clone installs from
# offline; and a venv whose stamp holds the same pins is left as it is. Every transitive package
# is pinned too: scripts/torch2-constraints.txt is `pip freeze` of this venv.
# The frameworks cairn plugs into (tests/integrations, bench/frameworks) live here too. transformers
# is 5.23.0, not the newest 5.x: 5.24 and later need a `kernels` release PyPI does not serve here.
torch2_packages=(torch==2.15.0 numpy==2.4.6 safetensors==0.8.0 pytest==8.3.3
                 lightning==2.6.6 transformers==5.23.0 accelerate==1.15.0)
torch2_venv=.venv-torch2
torch2_constraints=scripts/torch2-constraints.txt
torch2_pins="${torch2_packages[*]} $(sha256sum <"$torch2_constraints")"
wheelhouse=${CAIRN_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn/wheels}
torch2_install() {
  "$torch2_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index \
    --find-links "$wheelhouse" -c "$torch2_constraints" "${torch2_packages[@]}"
}
if [ ! -x "$torch2_venv/bin/python" ] ||
  [ "$(cat "$torch2_venv/cairn-pins" 2>/dev/null)" != "$torch2_pins" ]; then
  if [ ! -x "$torch2_venv/bin/python" ]; then
    echo "install-deps: creating $torch2_venv from /usr/bin/python3"
    /usr/bin/python3 -m venv "$torch2_venv"
  fi
  rm -f "$torch2_venv/cairn-pins"
  mkdir -p "$wheelhouse"
  echo "install-deps: installing ${torch2_packages[*]} into $torch2_venv from $wheelhouse"
  if ! torch2_install 2>/dev/null; then
    echo "install-deps: downloading what $wheelhouse lacks (about 3 GB the first time)"
    # A download killed while being copied in leaves a truncated wheel, which pip would take as
    # already there: a wheel is a zip, whose directory is at its end, so such a file fails to open.
    "$torch2_venv/bin/python" - "$wheelhouse" <<'PY'
import pathlib, sys, zipfile
for wheel in pathlib.Path(sys.argv[1]).glob("*.whl"):
    try:
        zipfile.ZipFile(wheel).close()
    except (zipfile.BadZipFile, OSError):
        wheel.unlink()
PY
    "$torch2_venv/bin/python" -m pip download --quiet --disable-pip-version-check \
      -d "$wheelhouse" -c "$torch2_constraints" "${torch2_packages[@]}"
    torch2_install
  fi
  echo "$torch2_pins" >"$torch2_venv/cairn-pins"
fi
