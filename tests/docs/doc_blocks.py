"""Every fenced code block of README.md and docs/*.md, checked by its kind (tests/docs/README.md
gives the convention). The one extractor the docs tests share:

  doc_blocks.py list                 the blocks per file and kind; fails on a block of no kind
  doc_blocks.py cpp --cxx CXX --include DIR --lib LIBCAIRN [--mpi-include DIR --mpi-lib LIB
                     --mpi-link LIB --mpirun MPIRUN]
                                     compiles and links each C++ block, runs each program
  doc_blocks.py shell                runs the console sessions (CAIRN_CLI, CAIRN_CHECKPOINT_FIXTURE)
                                     and checks the sh, cmake and json blocks
Python blocks run from tests/integrations/test_docs.py (pytest, in .venv-torch2), through
python_programs() and run_python() below."""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Kind (the info string's first word) -> the attributes it may carry.
KINDS = {
    "cpp": {"mpi"},               # compiled and linked against libcairn; a program is run
    "python": {"continued", "fixture"},  # run in a fresh folder
    "console": {"fixture"},       # `$ ` commands run against real directories, output compared
    "sh": {"not-run"},            # commands the suite cannot run: checked, not run
    "cmake": set(),               # lines the install_consumer project holds and builds
    "json": {"fragment"},         # parsed (a fragment: with its `...` elided)
    "text": {"output"},           # a diagram or listing; `output`: a run's figures, not compared
}


@dataclass
class Block:
    path: str           # relative to the repository
    line: int           # of the opening fence, 1-based
    kind: str
    attrs: dict
    text: str
    section: str        # the nearest heading above

    @property
    def where(self):
        return f"{self.path}:{self.line}"


@dataclass
class Program:
    blocks: list = field(default_factory=list)

    @property
    def first(self):
        return self.blocks[0]

    @property
    def text(self):
        return "\n".join(block.text for block in self.blocks)

    @property
    def where(self):
        return self.first.where + "".join(f"+{b.line}" for b in self.blocks[1:])


def documents(root=ROOT):
    return [root / "README.md"] + sorted((root / "docs").glob("*.md"))


def blocks(document, root=ROOT):
    """The fenced blocks of one Markdown file, in order; a bad info string raises ValueError."""
    found, section, opened = [], "", None
    lines = Path(document).read_text(encoding="utf-8").split("\n")
    relative = str(Path(document).resolve().relative_to(root))
    for number, line in enumerate(lines, 1):
        fence = re.match(r"^(\s*)```(.*)$", line)
        if opened is None:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            if fence:
                opened = (number, fence.group(2).strip(), len(fence.group(1)), [])
            continue
        if fence and not fence.group(2).strip():
            start, info, indent, body = opened
            found.append(make_block(relative, start, info, body, section))
            opened = None
        else:
            opened[3].append(line[opened[2]:] if line[:opened[2]].isspace() else line)
    if opened is not None:
        raise ValueError(f"{relative}:{opened[0]}: a code block that never closes")
    return found


def make_block(path, line, info, body, section):
    words = info.split()
    if not words or words[0] not in KINDS:
        raise ValueError(f"{path}:{line}: the block's info string '{info}' names no kind "
                         f"({', '.join(KINDS)}; tests/docs/README.md)")
    attrs = {}
    for word in words[1:]:
        name, _, value = word.partition("=")
        if name not in KINDS[words[0]]:
            raise ValueError(f"{path}:{line}: '{word}' is no attribute of a {words[0]} block")
        attrs[name] = value or True
    return Block(path, line, words[0], attrs, "\n".join(body) + "\n", section)


def all_blocks(root=ROOT):
    return [block for document in documents(root) for block in blocks(document, root)]


def programs(kind, root=ROOT):
    """The blocks of `kind`, a `continued` one joined to the block of its kind before it."""
    result = []
    for document in documents(root):
        for block in blocks(document, root):
            if block.kind != kind:
                continue
            if block.attrs.get("continued"):
                if not result or result[-1].first.path != block.path:
                    raise ValueError(f"{block.where}: 'continued' with no {kind} block before it")
                result[-1].blocks.append(block)
            else:
                result.append(Program([block]))
    return result


# ---- fixtures: real directories, made by real saves (tests/tools/checkpoint_fixture.cpp)


def checkpoint_fixture(*args, cwd):
    tool = os.environ.get("CAIRN_CHECKPOINT_FIXTURE")
    if not tool:
        raise RuntimeError("CAIRN_CHECKPOINT_FIXTURE names no checkpoint_fixture binary")
    subprocess.run([tool, *args], cwd=cwd, check=True, timeout=600)


def fixture_exp1(cwd):
    """runs/exp1: 20 epochs with val_loss, the last 2, best 3 and every 5th epoch kept."""
    checkpoint_fixture("policies", "runs/exp1", cwd=cwd)


def fixture_exp2(cwd):
    """runs/exp2: 3 checkpoints kept of 5, the oldest without its manifest, the next cut short."""
    checkpoint_fixture("make", "runs/exp2", "5", cwd=cwd)
    folders = sorted((Path(cwd) / "runs/exp2/checkpoints").iterdir())
    (folders[0] / "MANIFEST.json").unlink()
    model = folders[1] / "model.safetensors"
    os.truncate(model, model.stat().st_size - 10)


def fixture_hostile(cwd):
    """hostile.safetensors: another tool's file whose names hold terminal escapes."""
    trap = "\x1b[31mred\u009b2J"
    header = json.dumps({"__metadata__": {"note": trap},
                         "w." + trap: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})
    encoded = header.encode() + b" " * (-len(header.encode()) % 8)  # aligned, as the spec asks
    (Path(cwd) / "hostile.safetensors").write_bytes(
        len(encoded).to_bytes(8, "little") + encoded + b"\0\0\x80\x3f")


def fixture_sharded(cwd):
    """runs/sharded: 2 epochs saved by 3 ranks, embed.weight (37 x 8) split by rows."""
    checkpoint_fixture("sharded", "runs/sharded", cwd=cwd)


FIXTURES = {"exp1": fixture_exp1, "exp2": fixture_exp2, "hostile": fixture_hostile,
            "sharded": fixture_sharded}


def prepare(block, cwd):
    for name in filter(None, str(block.attrs.get("fixture", "")).split(",")):
        if name not in FIXTURES:
            raise ValueError(f"{block.where}: no fixture '{name}' ({', '.join(FIXTURES)})")
        FIXTURES[name](cwd)


# ---- python


def python_programs(root=ROOT):
    return programs("python", root)


def run_python(program, cwd, python=sys.executable, timeout=600):
    """Runs one Python program in `cwd` with the cairn package the caller imports."""
    import cairn  # the package under test, wherever it is: the program runs in another folder
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(cairn.__file__)))
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(
        [package_parent] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    prepare(program.first, cwd)
    return subprocess.run([python, "-c", program.text], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


# ---- cpp


def check_cpp(args):
    failures = []
    for program in programs("cpp"):
        block = program.first
        mpi = bool(block.attrs.get("mpi"))
        with tempfile.TemporaryDirectory() as work:
            source = Path(work) / "block.cpp"
            source.write_text(program.text, encoding="utf-8")
            command = [args.cxx, "-std=c++20", "-Wall", "-Wextra", "-Werror", "-pthread",
                       "-I", args.include, str(source)]
            libraries = [args.lib]
            if mpi:
                command[1:1] = [f"-isystem{d}" for d in args.mpi_include]
                if not args.mpi_lib:  # a build without cairn_mpi: compiled, not linked
                    command += ["-c", "-o", str(Path(work) / "block.o")]
                libraries = [args.mpi_lib, args.lib] + args.mpi_link if args.mpi_lib else []
            is_program = re.search(r"^int main\(", program.text, re.M) is not None
            if libraries:
                binary = Path(work) / "block"
                command += ["-o", str(binary)] if is_program else [
                    "-shared", "-fPIC", "-Wl,--no-undefined", "-o", str(binary) + ".so"]
                for library in libraries:
                    command += [library, f"-Wl,-rpath,{Path(library).resolve().parent}"]
            built = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if built.returncode != 0:
                failures.append(f"{program.where}: does not compile:\n{built.stderr}")
                continue
            what = "compiled and linked" if libraries else "compiled (no cairn_mpi to link)"
            # An MPI program runs under mpirun, on 2 ranks, when the build gives one.
            runner = [args.mpirun, "--oversubscribe", "--allow-run-as-root", "-np", "2"] \
                if mpi else []
            if is_program and libraries and (not mpi or args.mpirun):
                ran = subprocess.run(runner + [str(binary)], cwd=work, capture_output=True,
                                     text=True, timeout=600)
                if ran.returncode != 0:
                    failures.append(f"{program.where}: exits {ran.returncode}:\n"
                                    f"{ran.stdout}{ran.stderr}")
                    continue
                what += ", ran" + (" on 2 ranks" if mpi else "")
            print(f"ok   {program.where} (cpp{' mpi' if mpi else ''}): {what}")
    return failures


# ---- console, sh, cmake, json


def normalize(line):
    # What differs from run to run: the save time.
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "YYYY-MM-DD hh:mm:ss", line).rstrip()


def matches(expected, actual):
    """`...` alone on a line of the shown output stands for any lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and normalize(expected[0]) == normalize(actual[0]) and \
        matches(expected[1:], actual[1:])


def sessions(block):
    """(command, shown output lines) pairs of a console block."""
    pairs = []
    for line in block.text.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif not pairs:
            raise ValueError(f"{block.where}: a console block starts with a `$ ` command")
        else:
            pairs[-1][1].append(line)
    return pairs


def check_console(block):
    cli = os.environ.get("CAIRN_CLI")
    if not cli:
        return [f"{block.where}: CAIRN_CLI names no cairn binary"]
    failures = []
    with tempfile.TemporaryDirectory() as work:
        prepare(block, work)
        env = dict(os.environ, PATH=f"{Path(cli).parent}:{os.environ['PATH']}")
        status = 0
        for command, shown in sessions(block):
            # One shell per command; `$?` is the status of the command before.
            done = subprocess.run(["bash", "-c", f"(exit {status}); {command}"], cwd=work,
                                  env=env, capture_output=True, text=True, timeout=300)
            status = done.returncode
            actual = (done.stdout + done.stderr).rstrip("\n").split("\n")
            if not matches(shown, actual):
                failures.append(f"{block.where}: `{command}` printed\n" + "\n".join(actual) +
                                "\n  where the doc shows\n" + "\n".join(shown))
    return failures


def script_words(block):
    """The scripts an sh block runs: the word after `bash` or a python."""
    for line in block.text.replace("\\\n", " ").split("\n"):
        words = shlex.split(line, comments=True)
        for runner, script in zip(words, words[1:]):
            if runner == "bash" or re.fullmatch(r"([^\s=]*/)?python3?", runner):
                yield script


def check_sh(block):
    failures = []
    parsed = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
    if parsed.returncode != 0:
        failures.append(f"{block.where}: bash -n: {parsed.stderr}")
    for script in script_words(block):
        path = ROOT / script
        if not path.is_file():
            failures.append(f"{block.where}: runs {script}, which does not exist")
        elif path.suffix == ".sh":
            result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
            if result.returncode != 0:
                failures.append(f"{block.where}: bash -n {script}: {result.stderr}")
        elif path.suffix == ".py":
            try:
                compile(path.read_text(encoding="utf-8"), str(path), "exec")
            except SyntaxError as error:
                failures.append(f"{block.where}: {script} does not parse: {error}")
    return failures


def check_cmake(block):
    """Each command of the block is one of tests/consumer/CMakeLists.txt, the project the
    install_consumer test builds against the installed package; the block's target `my_trainer`
    stands for the consumer's `consumer`, and a version asked of find_package is left out."""
    consumer = ROOT / "tests/consumer/CMakeLists.txt"

    def commands(text):
        text = re.sub(r"#.*", "", text).replace("my_trainer", "consumer")
        return {re.sub(r"\s+\d+(\.\d+)*(?=\s)", "", line.strip())
                for line in text.split("\n") if line.strip()}
    held = commands(consumer.read_text(encoding="utf-8"))
    return [f"{block.where}: `{line}` is not a command of {consumer.relative_to(ROOT)}, which the "
            "install_consumer test builds" for line in sorted(commands(block.text) - held)]


def check_json(block):
    text = block.text
    if block.attrs.get("fragment"):
        text = re.sub(r"\.\.\.[^\]\"]*\.\.\.|\.\.\.", "null", text)   # `...`, `...words...`
        text = re.sub(r",\s*$", "", text.strip())
        text = text if text.startswith("{") else "{" + text + "}"
        text = re.sub(r"\[\s*null\s*\]", "[]", re.sub(r"\{\s*null\s*\}", "{}", text))
        text = re.sub(r",\s*null(?=\s*[\]}])", "", text)
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return [f"{block.where}: not JSON{' (as a fragment)' if block.attrs.get('fragment') else ''}"
                f": {error}"]
    return []


def check_shell():
    failures = []
    checks = {"console": check_console, "sh": check_sh, "cmake": check_cmake, "json": check_json}
    for block in all_blocks():
        if block.kind in checks:
            found = checks[block.kind](block)
            failures += found
            if not found:
                print(f"ok   {block.where} ({block.kind})")
    return failures


# ---- the table


def table():
    rows = {}
    for block in all_blocks():
        label = " ".join([block.kind] + [k for k in block.attrs if k in ("output", "not-run",
                                                                         "fragment", "mpi")])
        rows.setdefault(block.path, {}).setdefault(label, 0)
        rows[block.path][label] += 1
    for path, counts in rows.items():
        print(f"{path}: " + ", ".join(f"{n} {label}" for label, n in sorted(counts.items())))


def main():
    import argparse
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("list")
    cpp = sub.add_parser("cpp")
    cpp.add_argument("--cxx", required=True)
    cpp.add_argument("--include", required=True)
    cpp.add_argument("--lib", required=True)
    cpp.add_argument("--mpi-lib", default="")
    cpp.add_argument("--mpi-include", action="append", default=[])
    cpp.add_argument("--mpi-link", action="append", default=[])
    cpp.add_argument("--mpirun", default="")
    sub.add_parser("shell")
    args = parser.parse_args()
    try:
        table()  # every block of every file has a kind, or this raises
        failures = {"list": lambda: [], "cpp": lambda: check_cpp(args),
                    "shell": check_shell}[args.what]()
    except ValueError as error:
        failures = [str(error)]
    sys.stdout.flush()
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
