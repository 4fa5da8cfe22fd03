"""cairn.CheckpointInfo: what cairn knows of one checkpoint, and where training resumes from it."""
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint: its name and folder, when and where in training it was saved, its size,
    its metrics, and the resume rule (``resume_epoch``, ``resume_batches``).

    The resume rule: a save at the end of epoch ``e`` resumes at the start of epoch ``e + 1``
    (``resume_batches`` 0); a save inside epoch ``e`` after ``b`` batches resumes epoch ``e``
    after skipping its first ``b`` batches.
    """
    name: str
    path: str                          # the checkpoint's folder
    epoch: int
    batches_this_epoch: Optional[int]  # set for saves made inside an epoch
    metrics: Dict[str, float] = field(default_factory=dict)
    seq: int = 0                       # save order: larger is newer
    save_time: float = 0.0             # seconds since the Unix epoch
    size_bytes: int = 0                # of all its files
    is_best: bool = False              # its model is the current best/
    permanent: bool = False            # kept for good (keep_serialized_model_every_num_seconds)
    model_path: str = ""
    training_state_path: str = ""
    shard_files: int = 0               # sharded saves: how many ranks wrote pieces

    @property
    def resume_epoch(self) -> int:
        """The epoch a run resumed from this checkpoint starts in."""
        return self.epoch if self.batches_this_epoch is not None else self.epoch + 1

    @property
    def resume_batches(self) -> int:
        """How many batches of ``resume_epoch`` this checkpoint already trained on."""
        return self.batches_this_epoch or 0

    @classmethod
    def _from_core(cls, values: Mapping[str, Any]) -> "CheckpointInfo":
        return cls(name=values["name"], path=values["dir"], epoch=values["epoch"],
                   batches_this_epoch=values["batches_this_epoch"],
                   metrics=dict(values["metrics"]), seq=values["seq"],
                   save_time=values["save_time"], size_bytes=values["size_bytes"],
                   is_best=values["is_best"], permanent=values["permanent"],
                   model_path=values["model_path"],
                   training_state_path=values["training_state_path"],
                   shard_files=values.get("shard_files", 0))
