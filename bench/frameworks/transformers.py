"""The Hugging Face Trainer's checkpoint step with its own writer and with cairn's.

The call timed is ``Trainer._save_checkpoint(model, trial=None)``, what the Trainer runs at
every save step (``save_steps``). The Trainer's own writer is transformers.Trainer's method:
``save_pretrained`` (model.safetensors, config.json), then torch.save of the optimizer,
scheduler, RNG and TrainingArguments, and trainer_state.json, none of them fsynced. cairn's is
cairn.transformers.CairnTrainer's: one checkpoint (model, optimizer, scheduler, RNG, trainer
state), fsynced and committed atomically. Both run on the same trainer, whose GPT-2 and AdamW
have taken one training step (so the moments exist); the two alternate, and each checkpoint is
deleted after it is timed.
"""
import os
import pathlib
import shutil
import time
from typing import Any, Dict, List

from . import timing

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _size(folder: pathlib.Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*")
               if path.is_file() and not path.is_symlink())


class _Tokens:
    """Two fixed sequences of token ids, as a map-style dataset."""

    def __init__(self, torch: Any, config: Any) -> None:
        length = min(32, config.n_positions)
        self.tokens = torch.randint(0, config.vocab_size, (2, length),
                                    generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        return {"input_ids": self.tokens[index], "labels": self.tokens[index]}


def measure(workdir: pathlib.Path, config: Any, repeats: int) -> List[Dict[str, Any]]:
    import torch
    import transformers

    if not hasattr(transformers, "Trainer"):  # this file, found first as "transformers"
        raise ImportError(f"{transformers.__file__} shadows Hugging Face's transformers: import "
                          "this module as frameworks.transformers, not with bench/frameworks "
                          "on sys.path")
    import cairn.transformers

    output_dir = pathlib.Path(workdir) / "transformers-run"
    transformers.set_seed(0)
    args = transformers.TrainingArguments(
        output_dir=str(output_dir), use_cpu=True, seed=0, report_to="none", disable_tqdm=True,
        max_steps=1, per_device_train_batch_size=2, save_strategy="no", logging_strategy="no",
        dataloader_num_workers=0)
    trainer = cairn.transformers.CairnTrainer(model=transformers.GPT2LMHeadModel(config),
                                              args=args, train_dataset=_Tokens(torch, config))
    trainer.train()  # one step: AdamW's moments exist
    assert trainer.optimizer.state, "AdamW has no moments after a step"

    def own_writer() -> pathlib.Path:
        transformers.Trainer._save_checkpoint(trainer, trainer.model, trial=None)
        return output_dir / f"checkpoint-{trainer.state.global_step}"

    def cairn_writer() -> pathlib.Path:
        trainer._save_checkpoint(trainer.model, trial=None)
        return pathlib.Path(trainer.cairn_checkpointer().list_checkpoints()[-1].path)

    step = "Trainer._save_checkpoint(model, trial=None)"
    results = [
        {"framework": "transformers", "writer": "Trainer's own (save_pretrained + torch.save, "
                                                "no fsync)",
         "step": step, "seconds": [], "seconds_until_on_disk": [], "bytes": 0,
         "_save": own_writer},
        {"framework": "transformers", "writer": "cairn CairnTrainer (fsync)",
         "step": step, "seconds": [], "bytes": 0, "_save": cairn_writer},
    ]
    for _ in range(repeats):
        for result in results:
            shutil.rmtree(output_dir, ignore_errors=True)
            output_dir.mkdir(parents=True)
            trainer.cairn_checkpointer()  # opened before the clock starts, as in training
            timing.settle()
            started = time.perf_counter()
            folder = result["_save"]()
            result["seconds"].append(time.perf_counter() - started)
            if "seconds_until_on_disk" in result:
                result["seconds_until_on_disk"].append(timing.until_on_disk(started))
            result["bytes"] = _size(folder)
            trainer._cairn = None  # lets go of the directory before it is deleted
    shutil.rmtree(output_dir, ignore_errors=True)
    for result in results:
        del result["_save"]
    return results
