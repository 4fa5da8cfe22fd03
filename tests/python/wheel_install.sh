#!/usr/bin/env bash
# pip builds a wheel from a clean copy of the project's files (scikit-build-core running the
# project's CMake), the wheel installs into a fresh venv over Debian's python3, and cairn imports
# from there and round-trips a checkpoint with torch tensors.
# Usage: wheel_install.sh SOURCE_DIR PYTHON_WITH_SCIKIT_BUILD_CORE
set -euo pipefail
source_dir=$1
python=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
# What a clean clone holds: tracked files and new ones not ignored (no build folders).
(cd "$source_dir" && git ls-files -z --cached --others --exclude-standard |
  tar --null --ignore-failed-read -cf - -T - 2>/dev/null) | tar -xf - -C "$work/src"
test -f "$work/src/pyproject.toml"
"$python" -m pip wheel --no-build-isolation --no-deps --quiet --disable-pip-version-check \
  -w "$work/wheels" "$work/src"
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install --no-index --no-deps --quiet --disable-pip-version-check \
  "$work/wheels"/cairn-*.whl
cd "$work"
"$work/venv/bin/python" - "$work" <<'PY'
import sys, torch, cairn
assert cairn.__file__.startswith(sys.argv[1] + "/venv/"), cairn.__file__

class Trainer:
    def get_checkpoint_state(self):
        return {"w": torch.arange(6.0).reshape(2, 3)}, {"optimizer": {"state": {0: {"step": 4}}}}

checkpointer = cairn.Checkpointer(sys.argv[1] + "/run", keep_best_k=1, metric="loss")
checkpointer.save_checkpoint(0, Trainer(), metrics={"loss": 0.5})
model, training = checkpointer.restore_checkpoint()
assert torch.equal(model["w"], torch.arange(6.0).reshape(2, 3))
assert training == {"optimizer": {"state": {0: {"step": 4}}}, "epoch": 0}
print("wheel OK:", cairn.__file__)
PY
