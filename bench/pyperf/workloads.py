"""The states the Python benchmark saves and restores, as a plain training loop holds them: a
dict {"model": module} or {"model": module, "optimizer": optimizer}, float32, every page written.

(a) N MiB in 100 tensors, (b) N MiB in 10,000 tensors, (c) GPT-2 small (124 M parameters in the
shapes of Hugging Face's GPT2Model, built by hand: transformers is not needed) with AdamW after
one step, so exp_avg, exp_avg_sq and step exist for every parameter. The same workloads as
bench/performance's (a), (b) and (c), whose (c) lacks the 148 step tensors.
"""
from dataclasses import dataclass

import torch

from .measure import nbytes, tensors_of


class Holder(torch.nn.Module):
    """A module that only holds parameters (and submodules that hold parameters)."""


def module_with(shapes):
    """A module whose state_dict() has exactly these dotted names and shapes."""
    root = Holder()
    for name, shape in shapes:
        *path, leaf = name.split(".")
        owner = root
        for part in path:
            if part not in owner._modules:
                owner.add_module(part, Holder())
            owner = owner._modules[part]
        parameter = torch.nn.Parameter(torch.empty(shape))
        torch.nn.init.normal_(parameter, std=0.02)
        owner.register_parameter(leaf, parameter)
    return root


def gpt2_shapes(layers=12, width=768, vocab=50257, context=1024):
    """GPT-2 small's parameters (148 tensors, 124,439,808 floats); the LM head is tied to wte."""
    shapes = [("wte.weight", [vocab, width]), ("wpe.weight", [context, width])]
    for layer in range(layers):
        shapes += [(f"h.{layer}.{name}", shape) for name, shape in [
            ("ln_1.weight", [width]), ("ln_1.bias", [width]),
            ("attn.c_attn.weight", [width, 3 * width]), ("attn.c_attn.bias", [3 * width]),
            ("attn.c_proj.weight", [width, width]), ("attn.c_proj.bias", [width]),
            ("ln_2.weight", [width]), ("ln_2.bias", [width]),
            ("mlp.c_fc.weight", [width, 4 * width]), ("mlp.c_fc.bias", [4 * width]),
            ("mlp.c_proj.weight", [4 * width, width]), ("mlp.c_proj.bias", [width])]]
    return shapes + [("ln_f.weight", [width]), ("ln_f.bias", [width])]


def stepped_adamw(model):
    """AdamW after one step on a constant gradient: every parameter has its state."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for parameter in model.parameters():
        parameter.grad = torch.full_like(parameter, 1e-3)
    optimizer.step()
    for parameter in model.parameters():
        parameter.grad = None
    return optimizer


@dataclass
class Workload:
    key: str
    description: str
    state: dict  # the plain-loop state: {"model": module[, "optimizer": optimizer]}

    def tensors(self):
        """Every tensor of the state, in the order of its state_dict()s."""
        return [t for value in self.state.values() for t in tensors_of(value.state_dict())]

    def bytes(self):
        return nbytes(self.tensors())

    def spec(self):
        """[[name, shape, training], ...] for cairn-bench-save-spec: the same tensors under the
        names cairn's Python save gives them (the optimizer's under "optimizer.")."""
        rows = [[f"model.{name}", list(t.shape), False]
                for name, t in self.state["model"].state_dict().items()]
        if "optimizer" in self.state:
            for index, entry in self.state["optimizer"].state_dict()["state"].items():
                rows += [[f"state.{index}.{name}", list(t.shape), True]
                         for name, t in entry.items() if isinstance(t, torch.Tensor)]
        return rows


def equal_tensors(key, mib, count):
    floats = mib * 2**20 // count // 4
    model = module_with([(f"layers.{i}.weight", [floats]) for i in range(count)])
    workload = Workload(key, "", {"model": model})
    workload.description = f"{workload.bytes() / 2**20:.1f} MiB in {count:,} tensors"
    return workload


def gpt2_adamw(**shape):
    model = module_with(gpt2_shapes(**shape))
    workload = Workload("c", "", {"model": model, "optimizer": stepped_adamw(model)})
    parameters = sum(p.numel() for p in model.parameters())
    workload.description = (f"GPT-2 ({parameters / 1e6:.1f} M parameters) + AdamW: "
                            f"{workload.bytes() / 2**30:.2f} GiB in {len(workload.tensors())} "
                            "tensors")
    return workload
