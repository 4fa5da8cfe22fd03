"""Every Python block of README.md and docs/*.md runs as written (tests/docs/README.md): each
program (a block, with the `python continued` blocks after it) in a fresh folder, in
.venv-torch2, which has every framework docs/integrations.md uses. A block that names a fixture
gets its real directory first (checkpoint_fixture, CAIRN_CHECKPOINT_FIXTURE)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
import doc_blocks  # noqa: E402  (the one extractor of the docs tests)

PROGRAMS = doc_blocks.python_programs()


def test_every_document_with_python_has_its_blocks_here():
    documents = {program.first.path for program in PROGRAMS}
    assert {"README.md", "docs/python.md", "docs/integrations.md"} <= documents, documents


@pytest.mark.parametrize("program", PROGRAMS, ids=[program.where for program in PROGRAMS])
def test_the_block_runs_as_written(program, tmp_path):
    done = doc_blocks.run_python(program, tmp_path)
    assert done.returncode == 0, f"{program.where}:\n{done.stdout}\n{done.stderr}"
