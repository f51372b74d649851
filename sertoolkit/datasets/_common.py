"""Records, reports and errors shared by the dataset readers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

__all__ = [
    "DatasetFormatError",
    "LabelledDataset",
    "Skipped",
    "Split",
    "Utterance",
]

Split = Literal["train", "val", "test"]
"""The three splits of a labelled dataset."""

SPLITS: tuple[Split, ...] = get_args(Split)


def process_group(distributed: bool) -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised torch.distributed group, or ``(0, 1)``."""
    if not distributed:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        raise ValueError(
            "Expected an initialised torch.distributed process group for distributed=True "
            "(e.g. under torchrun after init_process_group), but there is none."
        )
    return dist.get_rank(), dist.get_world_size()


class DatasetFormatError(ValueError):
    """A dataset file that cannot be read as its format says: names the file and the line.

    The message is one line, ``<file>:<line>: <what is wrong>`` (the line is omitted when the
    problem is not on one line, e.g. a missing folder or column).

    Attributes:
        file: The offending file or folder.
        line: 1-based line number, or ``None``.
    """

    def __init__(self, file: Path, line: int | None, message: str) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line is not None else f"{file}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Skipped:
    """One input left out of a dataset, with the reason (reported, never dropped silently)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Utterance:
    """One labelled utterance.

    Attributes:
        id: The dataset's utterance id (IEMOCAP ``Ses01F_impro01_F000``, CH-SIMS
            ``<video_id>/<clip_id>``).
        audio: The audio file (a wav, or a video whose audio track is read).
        label: Class index into the dataset's ``classes``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        speaker: Speaker id where the dataset has one (IEMOCAP ``Ses01F``), else ``None``.
        score: The continuous annotation the label came from (CH-SIMS), else ``None``.
    """

    id: str
    audio: Path
    label: int
    split: Split
    speaker: str | None = None
    score: float | None = None


@dataclass
class LabelledDataset:
    """A labelled dataset's index: utterances with labels and splits, and what was left out.

    Attributes:
        name: Dataset name.
        classes: Class names in index order.
        utterances: The usable utterances, in the order read.
        skipped: Inputs reported and left out (e.g. a missing audio file).
        excluded: Annotations outside the class set, counted by raw label (e.g. IEMOCAP
            ``fru``); these are not errors.
    """

    name: str
    classes: tuple[str, ...]
    utterances: list[Utterance]
    skipped: list[Skipped] = field(default_factory=list[Skipped])
    excluded: dict[str, int] = field(default_factory=dict[str, int])

    def __len__(self) -> int:
        return len(self.utterances)

    def select(self, split: Split) -> list[Utterance]:
        """The utterances of one split, in order."""
        if split not in SPLITS:
            raise ValueError(f"Expected `split` to be one of {SPLITS}, but got {split!r}.")
        return [u for u in self.utterances if u.split == split]

    def counts(self, split: Split | None = None) -> dict[str, int]:
        """Utterances per class name (of one split, or all), every class listed."""
        chosen = self.utterances if split is None else self.select(split)
        counter = Counter(u.label for u in chosen)
        return {name: counter.get(i, 0) for i, name in enumerate(self.classes)}

    def summary(self) -> str:
        """A few human-readable lines: counts per class and split, exclusions, skips."""
        lines = [f"{self.name}: {len(self)} utterances"]
        for split in (None, *SPLITS):
            counts = self.counts(split)
            if split is not None and not any(counts.values()):
                continue
            text = ", ".join(f"{n} {c}" for c, n in counts.items())
            lines.append(f"  {split or 'all'}: {text} ({sum(counts.values())})")
        if self.excluded:
            text = ", ".join(f"{k} {v}" for k, v in sorted(self.excluded.items()))
            lines.append(f"  not in the class set (left out): {text}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} input(s):")
            lines.extend(f"    {s}" for s in self.skipped)
        return "\n".join(lines)
