"""The Python code in docs/integrations.md runs as written: under each framework's section, its
blocks in order, in a fresh folder, with that framework installed (.venv-torch2)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
SECTIONS = ("PyTorch Lightning", "Hugging Face Trainer", "Hugging Face Accelerate")


def section_code(title: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    assert f"\n## {title}\n" in text, f"docs/integrations.md has no section '{title}'"
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, f"no python block under '{title}'"
    return "\n".join(blocks)


@pytest.mark.parametrize("title", SECTIONS)
def test_the_section_runs_as_written(title, tmp_path):
    import cairn  # the package under test: the code runs in another folder
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(cairn.__file__)))
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(
        [package_parent] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, "-c", section_code(title)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{title}:\n{done.stdout}\n{done.stderr}"
