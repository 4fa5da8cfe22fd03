"""The Python code in docs/python.md and README.md runs: each plain-loop example trains, saves,
and a second run resumes from where the first ended; the directory tools and sharded restore
examples do what they say."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "docs"))
import doc_blocks  # noqa: E402

pytest.importorskip("torch")

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DOCS = os.path.join(ROOT, "docs", "python.md")
README = os.path.join(ROOT, "README.md")


def section_code(title, document=DOCS, index=0):
    # The docs tests' one extractor (tests/docs/doc_blocks.py): the python blocks of a section.
    blocks = [block.text for block in doc_blocks.blocks(document)
              if block.kind == "python" and block.section == title]
    assert blocks, f"no python block under '{title}'"
    return blocks[index]


def run(code, cwd):
    import cairn  # the package under test, wherever it is: the example runs in another folder
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(cairn.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [package_parent] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_plain_loop_example_runs_and_resumes(tmp_path):
    code = section_code("A plain training loop")
    report = ("\nprint('resumed' if info is not None else 'fresh', state['step'],"
              " len(ckpt.list_checkpoints()))\n")
    first = run(code + report, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["fresh", "24", "3"]  # 3 epochs of 8 batches, 3 kept
    second = run(code + report, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["resumed", "24", "3"]  # nothing left to train


def test_the_readme_example_runs_and_resumes(tmp_path):
    code = section_code("Using it from Python", README)
    report = "\nprint('resumed' if info is not None else 'fresh', state['step'])\n"
    first = run(code + report, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["fresh", "30"]  # 3 epochs of 10 batches
    second = run(code + report, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["resumed", "30"]  # the state came back; nothing to train


def test_the_directory_tools_example_prunes_what_it_explains(tmp_path):
    first = run(section_code("Directory tools"), tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].endswith("epoch3-end [0, 1, 2, 3] ()"), lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["delete", "delete", "keep", "keep"]
    assert sorted(os.listdir(tmp_path / "runs" / "tools" / "checkpoints")) == [
        line.split()[1] for line in lines[3:]]


def test_the_sharded_restore_example_reads_its_half(tmp_path):
    from test_sharded_restore import checkpoint_fixture
    subprocess.run([checkpoint_fixture(), "sharded", str(tmp_path / "runs" / "sharded")],
                   check=True, timeout=600)
    result = run(section_code("Directory tools", index=1) + "\nprint(tuple(half.shape))\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Shard(global_shape=(37, 8), offsets=(0, 4))", "(37, 4)"]
