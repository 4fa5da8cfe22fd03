#!/usr/bin/env python3
"""Fails when an include climbs a layer of cairn, or when the includes of the library form a cycle.

The layers, lowest first (a file may include its own layer and the layers below it):
  vocabulary  include/cairn words every layer uses: errors, tensors, states, clocks, logging,
              the checkpoint state and info, retention's words; src/core
  storage     include/cairn/storage.hpp; src/storage (the only door to the disk)
  format      include/cairn/safetensors.hpp; src/format (safetensors files, checksums, JSON)
  checkpoint  src/checkpoint (one checkpoint folder: manifest, files, shards, best)
  retention   src/retention (the ledger and the retention policies)
  checkpointer include/cairn/checkpointer.hpp; src/checkpointer (the save and restore protocols)
  inspect     include/cairn/{inspect,checkpoint_folder}.hpp; src/inspect (verify, listing, prune,
              one checkpoint folder read-only: the tools' library)
  adapters    include/cairn/{mpi,torch}.hpp; src/mpi, src/torch (never each other)
  programs    include/cairn/cairn.hpp; tools/cairn, python/bindings
Usage: check_layers.py [ROOT]   (ROOT: the source tree, by default this file's tree)
       check_layers.py --self-test
"""
import os
import re
import sys
import tempfile

LAYERS = ["vocabulary", "storage", "format", "checkpoint", "retention", "checkpointer", "inspect",
          "adapters", "programs"]
PUBLIC = {
    "storage.hpp": "storage", "safetensors.hpp": "format", "checkpoint_folder.hpp": "inspect",
    "checkpointer.hpp": "checkpointer", "inspect.hpp": "inspect", "mpi.hpp": "adapters",
    "torch.hpp": "adapters", "cairn.hpp": "programs",
}  # every other public header is vocabulary
FOLDERS = {
    "src/core": "vocabulary", "src/storage": "storage", "src/format": "format",
    "src/checkpoint": "checkpoint", "src/retention": "retention",
    "src/checkpointer": "checkpointer", "src/inspect": "inspect", "src/mpi": "adapters",
    "src/torch": "adapters", "tools/cairn": "programs", "python/bindings": "programs",
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(relative):
    """The layer of a file by its path from the root, or None when it is in no layer."""
    if relative.startswith("include/cairn/"):
        return PUBLIC.get(os.path.basename(relative), "vocabulary")
    return FOLDERS.get(os.path.dirname(relative))


def resolve(include, including, root):
    """The path from the root of the file an include names, or None when it is not ours."""
    for candidate in (os.path.join("include", include), os.path.join("src", include),
                      os.path.join(os.path.dirname(including), include)):
        if os.path.isfile(os.path.join(root, candidate)):
            return os.path.normpath(candidate)
    return None


def sources(root):
    for top in ("include/cairn", "src", "tools/cairn", "python/bindings"):
        for folder, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if name.endswith((".hpp", ".cpp")):
                    yield os.path.relpath(os.path.join(folder, name), root)


def problems(root):
    found = []
    graph = {}
    for relative in sources(root):
        layer = layer_of(relative)
        if layer is None:
            found.append(f"{relative}: in no layer (add its folder to {__file__})")
            continue
        with open(os.path.join(root, relative), encoding="utf-8") as file:
            text = file.read()
        for include in INCLUDE.findall(text):
            target = resolve(include, relative, root)
            if target is None:
                continue
            graph.setdefault(relative, []).append(target)
            target_layer = layer_of(target)
            if target_layer is None:
                continue
            climbs = LAYERS.index(target_layer) > LAYERS.index(layer)
            sideways = (layer == target_layer == "adapters" and
                        os.path.basename(os.path.dirname(relative)) !=
                        os.path.basename(os.path.dirname(target)) and
                        not relative.startswith("include/") and not target.startswith("include/"))
            if climbs or sideways:
                found.append(f"{relative} ({layer}) includes {target} ({target_layer}): "
                             f"{'a layer above it' if climbs else 'another adapter'}")
    found.extend(cycles(graph))
    return found


def cycles(graph):
    """Include cycles between a header and another file's header (x.cpp including x.hpp is
    the usual pair, not a cycle: headers and sources are folded into one node per stem)."""
    def node(path):
        return os.path.splitext(path)[0]
    folded = {}
    for source, targets in graph.items():
        folded.setdefault(node(source), set()).update(node(t) for t in targets if node(t) != node(source))
    found, state = [], {}

    def visit(current, stack):
        state[current] = "open"
        stack.append(current)
        for target in sorted(folded.get(current, ())):
            if state.get(target) == "open":
                found.append("include cycle: " + " -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[current] = "done"

    for start in sorted(folded):
        if start not in state:
            visit(start, [])
    return found


def self_test():
    """The check must be able to fail: a tree with a climbing include and a cycle."""
    with tempfile.TemporaryDirectory() as root:
        files = {
            "include/cairn/storage.hpp": '#include "cairn/checkpointer.hpp"\n',
            "include/cairn/checkpointer.hpp": "",
            "src/checkpoint/a.hpp": '#include "checkpoint/b.hpp"\n',
            "src/checkpoint/b.cpp": '#include "checkpoint/a.hpp"\n',
            "src/checkpoint/b.hpp": "",
            "src/core/fine.cpp": '#include "cairn/error.hpp"\n',
            "include/cairn/error.hpp": "",
        }
        for relative, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, relative)), exist_ok=True)
            with open(os.path.join(root, relative), "w", encoding="utf-8") as file:
                file.write(text)
        found = problems(root)
        expected = ["include/cairn/storage.hpp (storage) includes include/cairn/checkpointer.hpp",
                    "include cycle: src/checkpoint/a -> src/checkpoint/b -> src/checkpoint/a"]
        for text in expected:
            if not any(line.startswith(text) for line in found):
                print(f"self-test: expected a problem starting {text!r}, got {found}")
                return 1
        if len(found) != len(expected):
            print(f"self-test: expected {len(expected)} problems, got {found}")
            return 1
    print("self-test: the check finds a climbing include and a cycle")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    found = problems(root)
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} layering problem(s); the layers are in {__file__}")
        return 1
    print(f"layers respected, no include cycle ({sum(1 for _ in sources(root))} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
