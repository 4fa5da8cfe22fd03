"""cairn.RngState: the random generators a training run draws from, as plain data."""
import random
from typing import Any, Dict

import numpy as np

from . import _logging
from .errors import InvalidArgumentError


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


class RngState:
    """Put in a plain-loop state (``{"rng": cairn.RngState(), ...}``): a save captures Python's
    ``random``, NumPy's global generator and torch's CPU generator (and every CUDA device's when
    CUDA is available); a restore puts them back, so a resumed run draws the numbers the
    uninterrupted run would have (shuffling, dropout, augmentation).

    Generators of your own (a ``torch.Generator`` given to a DataLoader, a
    ``numpy.random.Generator``) are not global: save them as values of their own
    (``generator.get_state()``, ``bit_generator.state``).
    """

    def state_dict(self) -> Dict[str, Any]:
        version, internal, gauss_next = random.getstate()
        name, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
        state: Dict[str, Any] = {
            "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
            "numpy": {"bit_generator": name, "keys": [int(key) for key in keys],
                      "pos": int(position), "has_gauss": int(has_gauss),
                      "cached_gaussian": float(cached_gaussian)},
        }
        torch = _torch()
        if torch is not None:
            state["torch"] = torch.get_rng_state()
            if torch.cuda.is_available():
                state["cuda"] = list(torch.cuda.get_rng_state_all())
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        try:
            python = state["python"]
            random.setstate((python["version"], tuple(python["state"]), python["gauss_next"]))
            numpy = state["numpy"]
            np.random.set_state((numpy["bit_generator"], np.array(numpy["keys"], dtype=np.uint32),
                                 numpy["pos"], numpy["has_gauss"], numpy["cached_gaussian"]))
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidArgumentError(f"the saved random-generator state is not one RngState "
                                       f"wrote ({type(error).__name__}: {error})") from error
        torch = _torch() if "torch" in state else None
        if torch is not None:
            torch.set_rng_state(_byte_tensor(torch, state["torch"]))
            if "cuda" in state and torch.cuda.is_available():
                saved = [_byte_tensor(torch, value) for value in state["cuda"]]
                if len(saved) != torch.cuda.device_count():
                    _logging.logger.warning("%d CUDA generator states saved, %d devices here: "
                                            "restoring the first ones", len(saved),
                                            torch.cuda.device_count())
                torch.cuda.set_rng_state_all(saved[:torch.cuda.device_count()])

    def __repr__(self) -> str:
        return "cairn.RngState()"


def _byte_tensor(torch, value):
    """A restored generator state as the uint8 CPU tensor torch takes (it may come as numpy)."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    return value.to(dtype=torch.uint8).contiguous()
