"""Records, reports and errors shared by the dataset readers."""

from __future__ import annotations

import math
import os
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


def check_str(name: str, value: object, *, optional: bool = False) -> None:
    """Raise ``TypeError`` unless ``value`` is a ``str`` (or ``None`` when ``optional``)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise TypeError(f"Expected `{name}` to be a str, but got {type(value).__name__}.")


def check_split(name: str, value: object) -> None:
    """A split name: a ``str`` (``TypeError``) among `SPLITS` (``ValueError``)."""
    check_str(name, value)
    if value not in SPLITS:
        raise ValueError(f"Expected `{name}` to be one of {SPLITS}, but got {value!r}.")


def as_path(name: str, value: object) -> Path:
    """A ``str`` or ``os.PathLike`` as a `Path`; else a ``TypeError``."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(
            f"Expected `{name}` to be a str or os.PathLike path, but got {type(value).__name__}."
        )
    return Path(value)  # pyright: ignore[reportUnknownArgumentType]


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
        file = as_path("file", file)
        if line is not None and (isinstance(line, bool) or not isinstance(line, int)):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"Expected `line` to be an int or None, but got {type(line).__name__}.")
        if line is not None and line < 1:
            raise ValueError(f"Expected `line` to be a 1-based line number, but got {line}.")
        check_str("message", message)
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line is not None else f"{file}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Skipped:
    """One input left out of a dataset, with the reason (reported, never dropped silently)."""

    path: Path
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", as_path("path", self.path))
        check_str("reason", self.reason)

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

    def __post_init__(self) -> None:
        check_str("id", self.id)
        object.__setattr__(self, "audio", as_path("audio", self.audio))
        if isinstance(self.label, bool) or not isinstance(self.label, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"Expected `label` to be an int, but got {type(self.label).__name__}.")
        if self.label < 0:
            raise ValueError(f"Expected `label` to be a class index >= 0, but got {self.label}.")
        check_split("split", self.split)
        check_str("speaker", self.speaker, optional=True)
        if self.score is not None:
            if isinstance(self.score, bool) or not isinstance(self.score, (int, float)):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError(
                    f"Expected `score` to be a float or None, but got {type(self.score).__name__}."
                )
            if not math.isfinite(self.score):
                raise ValueError(f"Expected `score` to be finite, but got {self.score}.")


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

    def __post_init__(self) -> None:
        check_str("name", self.name)
        if not isinstance(self.classes, tuple) or not all(isinstance(c, str) for c in self.classes):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(
                f"Expected `classes` to be a tuple of class names (str), but got "
                f"{type(self.classes).__name__}."
            )
        for name, items, kind in (
            ("utterances", self.utterances, Utterance),
            ("skipped", self.skipped, Skipped),
        ):
            if not isinstance(items, list) or not all(isinstance(i, kind) for i in items):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError(
                    f"Expected `{name}` to be a list of {kind.__name__}, but got "
                    f"{type(items).__name__}."
                )
        bad = [u.id for u in self.utterances if u.label >= len(self.classes)]
        if bad:
            raise ValueError(
                f"Expected `utterances` to have labels in [0, {len(self.classes)}), but got "
                f"{len(bad)} beyond, e.g. {bad[0]!r}."
            )

    def __len__(self) -> int:
        return len(self.utterances)

    def select(self, split: Split) -> list[Utterance]:
        """The utterances of one split, in order."""
        check_split("split", split)
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
