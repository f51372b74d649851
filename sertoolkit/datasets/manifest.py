"""Unlabelled audio-visual collections (iQIYI-VID-like, EmoVoxCeleb-like) from a manifest.

A manifest lists one clip a row, as CSV (header row) or JSON Lines (one object a line)::

    id,audio,faces,face_probs,face_logits,fps
    clip0001,wav/clip0001.wav,faces/clip0001,,,25
    clip0002,video/clip0002.mp4,video/clip0002_faces.mp4,,,
    clip0003,wav/clip0003.wav,,,teacher/clip0003.npy,25

* ``id`` (required): a unique clip id.
* ``audio`` (required): an audio file, or a video whose audio track is read
  ([sertoolkit.features.load_audio][]).
* exactly one visual column per row:

  - ``faces``: the clip's face crops, either a folder of images (``.png``, ``.jpg``,
    ``.jpeg``, ``.bmp``; sorted by name with numbers in numeric order, one image per video
    frame; macOS ``._*`` files ignored) or a video file of face
    crops (e.g. ``.mp4``; its own frame rate is used);
  - ``face_probs``: a ``.npy`` file of per-frame probabilities over the 7
    [sertoolkit.taxonomy.EXPRESSIONS][], shape ``(frames, 7)``;
  - ``face_logits``: the same with logits (EmoVoxCeleb-style teacher predictions), turned
    into probabilities with a softmax.

  In a ``.npy`` file a frame with no face is a row of NaN.
* ``fps`` (optional, default 25): the frame rate of an image folder or a ``.npy`` file.

Relative paths are resolved against the manifest's folder; empty CSV cells and JSON ``null``
mean "absent". Visual evidence follows the paper (Sec. 3.2, 4.2): frames every 0.24 s
([sertoolkit.pooling.frame_indices][]), the face model's probabilities averaged over the
sampled frames that have a face ([sertoolkit.pooling.pool_frames][]).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from sertoolkit._validation import (
    check_floating,
    check_integer,
    check_mask,
    check_positive_float,
    check_rank,
    describe,
    fail,
)
from sertoolkit.datasets._common import (
    DatasetFormatError,
    Skipped,
    as_path,
    check_str,
    process_group,
)
from sertoolkit.pooling import frame_indices, pool_frames
from sertoolkit.taxonomy import EXPRESSIONS

__all__ = [
    "IMAGE_SUFFIXES",
    "Manifest",
    "UnlabelledClip",
    "VisualEvidence",
    "VisualKind",
    "expression_probabilities",
    "read_manifest",
]

VisualKind = Literal["faces", "face_probs", "face_logits"]
"""The kind of visual evidence of a clip (the manifest column it came from)."""
VISUAL_KINDS: tuple[VisualKind, ...] = get_args(VisualKind)

_VISUAL_COLUMNS: tuple[VisualKind, ...] = ("faces", "face_probs", "face_logits")
IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp"})
"""Image files read from a folder of face crops."""


@dataclass(frozen=True)
class UnlabelledClip:
    """One unlabelled audio-visual clip.

    Attributes:
        id: The manifest's clip id.
        audio: Audio file (or video with an audio track).
        visual: The visual evidence: a folder of face crops, a video of face crops, or a
            ``.npy`` of per-frame probabilities or logits.
        visual_kind: Which of the three (the manifest column).
        fps: Frame rate of a folder or ``.npy`` (a video's own rate is used for videos).
    """

    id: str
    audio: Path
    visual: Path
    visual_kind: VisualKind
    fps: float = 25.0

    def __post_init__(self) -> None:
        check_str("id", self.id)
        object.__setattr__(self, "audio", as_path("audio", self.audio))
        object.__setattr__(self, "visual", as_path("visual", self.visual))
        check_str("visual_kind", self.visual_kind)
        if self.visual_kind not in VISUAL_KINDS:
            raise ValueError(
                f"Expected `visual_kind` to be one of {VISUAL_KINDS}, but got {self.visual_kind!r}."
            )
        object.__setattr__(self, "fps", check_positive_float("fps", self.fps))


@dataclass
class Manifest:
    """A manifest's usable clips and the rows left out (missing files)."""

    path: Path
    clips: list[UnlabelledClip]
    skipped: list[Skipped] = field(default_factory=list[Skipped])

    def __post_init__(self) -> None:
        self.path = as_path("path", self.path)
        _check_items("clips", self.clips, UnlabelledClip)
        _check_items("skipped", self.skipped, Skipped)

    def __len__(self) -> int:
        return len(self.clips)

    def summary(self) -> str:
        """A few human-readable lines: clips by kind of visual evidence, skips."""
        kinds = {k: sum(c.visual_kind == k for c in self.clips) for k in _VISUAL_COLUMNS}
        text = ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
        lines = [f"{self.path}: {len(self)} unlabelled clips ({text or 'none'})"]
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} row(s):")
            lines.extend(f"    {s}" for s in self.skipped)
        return "\n".join(lines)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs of a CSV or JSON Lines file."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            for row in reader:
                if None in row:
                    raise DatasetFormatError(path, reader.line_num, "more fields than the header")
                yield reader.line_num, dict(row)
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DatasetFormatError(path, number, f"invalid JSON: {err.msg}") from None
            if not isinstance(row, dict):
                raise DatasetFormatError(path, number, "expected a JSON object per line")
            yield number, cast(dict[str, Any], row)


def _cell(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read a manifest of unlabelled audio-visual clips (schema in the module docstring).

    Args:
        path: A ``.csv`` or ``.jsonl`` file.

    Returns:
        The clips; rows whose audio or visual file is missing are in ``skipped``.

    Raises:
        FileNotFoundError: If the manifest does not exist.
        DatasetFormatError: On a row without ``id`` or ``audio``, with no or several visual
            columns, a bad ``fps``, a repeated id, or invalid CSV / JSON (names the line).
        ValueError: If the file is neither ``.csv`` nor ``.jsonl``.
    """
    file = as_path("path", path)
    if file.suffix.lower() not in (".csv", ".jsonl"):
        raise ValueError(f"Expected `path` to be a .csv or .jsonl manifest, but got {str(file)!r}.")
    if not file.is_file():
        raise FileNotFoundError(f"Manifest not found: {str(file)!r}")
    base = file.parent
    clips: list[UnlabelledClip] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for number, row in _rows(file):
        uid, audio = _cell(row, "id"), _cell(row, "audio")
        if uid is None or audio is None:
            raise DatasetFormatError(file, number, "every row needs an `id` and an `audio` path")
        given = [k for k in _VISUAL_COLUMNS if _cell(row, k) is not None]
        if len(given) != 1:
            raise DatasetFormatError(
                file,
                number,
                f"expected exactly one of {', '.join(_VISUAL_COLUMNS)}, got "
                + (", ".join(given) if given else "none"),
            )
        kind = given[0]
        fps_text = _cell(row, "fps")
        try:
            fps = float(fps_text) if fps_text is not None else 25.0
        except ValueError:
            fps = math.nan
        if not (math.isfinite(fps) and fps > 0):
            raise DatasetFormatError(file, number, f"fps must be a number > 0, got {fps_text!r}")
        if uid in seen:
            raise DatasetFormatError(file, number, f"clip id {uid!r} appears twice")
        seen.add(uid)
        audio_path = base / audio
        visual_path = base / cast(str, _cell(row, kind))
        if not audio_path.is_file():
            skipped.append(Skipped(audio_path, f"line {number}: audio file missing"))
            continue
        if not visual_path.exists():
            skipped.append(Skipped(visual_path, f"line {number}: {kind} missing"))
            continue
        clips.append(UnlabelledClip(uid, audio_path, visual_path, cast(VisualKind, kind), fps))
    return Manifest(file, clips, skipped)


@dataclass
class VisualEvidence:
    """Utterance-level expression distributions of a list of clips.

    Attributes:
        probs: ``(clips, 7)`` pooled probabilities over
            [EXPRESSIONS][sertoolkit.taxonomy.EXPRESSIONS]; a zero row where the clip has no face.
        has_face: ``(clips,)`` bool: at least one sampled frame had a face.
        frames: ``(clips,)`` long: sampled frames with a face.
        skipped: Clips whose visual file could not be read (reported; they get
            ``has_face = False`` and keep their audio).
    """

    probs: Tensor
    has_face: Tensor
    frames: Tensor
    skipped: list[Skipped]

    def __post_init__(self) -> None:
        check_rank("probs", self.probs, 2, "(clips, 7)")
        check_floating("probs", self.probs)
        n = self.probs.shape[0]
        check_mask("has_face", self.has_face, n)
        check_rank("frames", self.frames, 1, "(clips,)")
        check_integer("frames", self.frames)
        if self.frames.shape[0] != n:
            raise fail("frames", f"of shape ({n},), one count per clip", describe(self.frames))
        _check_items("skipped", self.skipped, Skipped)


def _check_items(name: str, items: object, kind: type) -> None:
    seq: object = items
    if not isinstance(seq, list) or not all(isinstance(i, kind) for i in cast(list[object], seq)):
        raise TypeError(
            f"Expected `{name}` to be a list of {kind.__name__}, but got {type(items).__name__}."
        )


def _natural_key(name: str) -> list[int | str]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _decode_video(path: Path) -> tuple[list[NDArray[Any]], float]:
    """All frames (RGB, uint8, HWC) of a video's first video stream and its frame rate."""
    try:
        import av
    except ImportError as err:  # pragma: no cover - exercised only without PyAV
        raise ImportError(
            "Reading face crops from a video needs PyAV: pip install 'sertoolkit[video]'"
        ) from err
    opener: Any = av.open  # PyAV's overloads leave types unknown under strict checking
    with opener(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else 25.0
        frames: list[NDArray[Any]] = [
            f.to_ndarray(format="rgb24") for f in container.decode(stream)
        ]
    return frames, rate


def _read_image(path: Path) -> NDArray[Any]:
    from PIL import Image

    opener: Any = Image.open
    with opener(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _frames_tensor(
    images: Sequence[NDArray[Any]], image_size: tuple[int, int] | None, channels: int
) -> Tensor:
    """``(n, channels, h, w)`` float frames in [0, 1], resized to ``image_size`` if given."""
    out: list[Tensor] = []
    for image in images:
        x = torch.as_tensor(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
        if image_size is not None and tuple(x.shape[1:]) != image_size:
            x = nn.functional.interpolate(
                x.unsqueeze(0), size=image_size, mode="bilinear", antialias=True
            ).squeeze(0)
        out.append(x)
    if not out:
        h, w = image_size if image_size is not None else (1, 1)
        return torch.zeros(0, channels, h, w)
    frames = torch.stack(out)
    if channels == 1:  # ITU-R BT.601 luma
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        frames = (frames * weights).sum(dim=1, keepdim=True)
    return frames


def _clip_frame_probs(
    clip: UnlabelledClip,
    face_model: nn.Module | None,
    interval: float,
    image_size: tuple[int, int] | None,
    channels: int,
    device: torch.device,
) -> tuple[Tensor, Tensor]:
    """Sampled frames' expression probabilities ``(k, 7)`` and their face mask ``(k,)``."""
    if clip.visual_kind in ("face_probs", "face_logits"):
        array = np.load(clip.visual, allow_pickle=False)
        if array.ndim != 2 or array.shape[1] != len(EXPRESSIONS):
            raise ValueError(f"expected an array of shape (frames, 7), got {array.shape}")
        scores = torch.as_tensor(np.asarray(array, dtype=np.float32))
        idx = frame_indices(scores.shape[0], fps=clip.fps, interval=interval)
        scores = scores[idx]
        mask = ~scores.isnan().any(dim=1)
        scores = torch.nan_to_num(scores, nan=0.0)
        if clip.visual_kind == "face_logits":
            probs = scores.softmax(dim=1)
        else:
            if bool(((scores < -1e-3) | (scores > 1 + 1e-3)).any()):
                raise ValueError("face_probs values must lie in [0, 1]")
            sums = scores.sum(dim=1, keepdim=True)
            if bool(((sums[mask] - 1).abs() > 1e-2).any()):
                raise ValueError("face_probs rows must sum to 1 (within 0.01)")
            # float16 files sum to 1 only within ~1e-3: renormalise the rows with a face
            probs = torch.where(mask.unsqueeze(1), scores.clamp(min=0) / sums.clamp(min=1e-12), 0.0)
        return probs, mask
    assert face_model is not None  # checked by the caller
    if clip.visual.is_dir():
        files = sorted(
            (
                p
                for p in clip.visual.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("._")
            ),
            key=lambda p: _natural_key(p.name),
        )
        idx = frame_indices(len(files), fps=clip.fps, interval=interval)
        images = [_read_image(files[int(i)]) for i in idx]
    else:
        frames, rate = _decode_video(clip.visual)
        idx = frame_indices(len(frames), fps=rate, interval=interval)
        images = [frames[int(i)] for i in idx]
    x = _frames_tensor(images, image_size, channels)
    if x.shape[0] == 0:
        return torch.zeros(0, len(EXPRESSIONS)), torch.zeros(0, dtype=torch.bool)
    with torch.no_grad():
        probs = face_model(x.to(device)).float().softmax(dim=1).cpu()
    return probs, torch.ones(x.shape[0], dtype=torch.bool)


def expression_probabilities(
    clips: Sequence[UnlabelledClip],
    face_model: nn.Module | None = None,
    *,
    interval: float = 0.24,
    image_size: int | tuple[int, int] | None = None,
    channels: Literal[1, 3] = 3,
    device: torch.device | str | None = None,
    progress: Callable[[int], None] | None = None,
    distributed: bool = False,
) -> VisualEvidence:
    """Pool each clip's face-expression probabilities to the utterance (Sec. 3.2, 4.2).

    Frames are sampled every ``interval`` seconds with
    [frame_indices][sertoolkit.pooling.frame_indices]; face crops are scored with ``face_model``
    (softmax of its logits), ``.npy`` files are read as they are; the sampled frames with a
    face are averaged with [pool_frames][sertoolkit.pooling.pool_frames]. A clip whose visual file
    cannot be read is reported in ``skipped`` and gets no face; nothing stops the loop.

    Args:
        clips: The clips (e.g. `Manifest.clips`).
        face_model: A frame classifier over the 7 expressions taking ``(n, channels, h, w)``
            frames in ``[0, 1]`` (e.g. [sertoolkit.encoders.MobileNetV2FaceModel][]);
            needed only for ``faces`` clips. Used in eval mode.
        interval: Seconds between sampled frames (paper: 0.24).
        image_size: Resize face crops to this ``(height, width)`` (or square size); ``None``
            keeps them as they are.
        channels: 3 for RGB frames, 1 to convert them to grey first.
        device: Where the face model runs (default: where its parameters are).
        progress: Called with numbers of clips done, summing to ``len(clips)``. Under
            ``distributed`` only rank 0's is called, with each round's global count of 64
            clips per rank once rank 0 has done its part of the round.
        distributed: Share the clips between the ranks of an initialised
            ``torch.distributed`` group (clip ``i`` on rank ``i % world_size``; every rank
            must call this with the same clips); the results are summed across ranks, so
            every rank returns the full, single-process result.

    Returns:
        The pooled distributions and face flags, one row per clip, in order.

    Raises:
        ValueError: On a bad ``interval``, ``image_size`` or ``channels``, or ``faces`` clips
            without a ``face_model``.
        TypeError: If ``interval`` is not a number.
    """
    interval = check_positive_float("interval", interval)
    if isinstance(clips, (str, bytes)) or not isinstance(clips, Sequence):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            f"Expected `clips` to be a sequence of UnlabelledClip, but got {type(clips).__name__}."
        )
    if face_model is not None and not callable(face_model):
        raise TypeError(
            f"Expected `face_model` to be callable, but got {type(face_model).__name__}."
        )
    size: tuple[int, int] | None
    if image_size is None:
        size = None
    else:
        pair = (image_size, image_size) if isinstance(image_size, int) else image_size
        if (
            not isinstance(pair, tuple)  # pyright: ignore[reportUnnecessaryIsInstance]
            or len(pair) != 2
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1  # pyright: ignore[reportUnnecessaryIsInstance]
                for v in pair
            )
        ):
            raise ValueError(
                "Expected `image_size` to be a positive int or a (height, width) tuple of "
                f"positive ints, but got {image_size!r}."
            )
        size = (pair[0], pair[1])
    if isinstance(channels, bool) or not isinstance(channels, int):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"Expected `channels` to be an int, but got {type(channels).__name__}.")
    if channels not in (1, 3):
        raise ValueError(f"Expected `channels` to be 1 or 3, but got {channels!r}.")
    if face_model is None and any(c.visual_kind == "faces" for c in clips):
        raise ValueError(
            "Expected `face_model` to be a frame classifier, but got None, and some clips have "
            "face crops (`faces`) to score."
        )
    if face_model is not None:
        face_model.eval()
        if device is None:
            param = next(iter(face_model.parameters()), None)
            device = param.device if param is not None else "cpu"
    dev = torch.device(device) if device is not None else torch.device("cpu")
    n = len(clips)
    rank, world = process_group(distributed)
    report = progress if rank == 0 else None
    probs = torch.zeros(n, len(EXPRESSIONS))
    has_face = torch.zeros(n, dtype=torch.bool)
    frames = torch.zeros(n, dtype=torch.long)
    bad: list[tuple[int, str, str]] = []  # (clip index, path, reason)
    chunk = 64 * world  # clips per round (a global progress update per round)
    for round_start in range(0, n, chunk):
        for i in range(round_start + rank, min(round_start + chunk, n), world):
            clip = clips[i]
            try:
                p, mask = _clip_frame_probs(clip, face_model, interval, size, channels, dev)
                pooled, ok = pool_frames(p.unsqueeze(0), mask.unsqueeze(0))
            except Exception as err:  # a bad file is reported and skipped, never fatal
                bad.append((i, str(clip.visual), f"visual evidence unreadable ({err})"))
            else:
                probs[i], has_face[i], frames[i] = pooled[0], ok[0], mask.sum()
            if report is not None and not distributed:
                report(1)
        if distributed and report is not None:
            report(min(round_start + chunk, n) - round_start)
    if distributed:
        probs, has_face, frames, bad = _merge_ranks(probs, has_face, frames, bad, world)
    skipped = [Skipped(Path(path), reason) for _, path, reason in sorted(bad)]
    return VisualEvidence(probs, has_face, frames, skipped)


def _merge_ranks(
    probs: Tensor, has_face: Tensor, frames: Tensor, bad: list[tuple[int, str, str]], world: int
) -> tuple[Tensor, Tensor, Tensor, list[tuple[int, str, str]]]:
    """Sum every rank's rows (each clip was done by one rank) and gather the skip reports."""
    import torch.distributed as dist

    on_gpu = dist.get_backend() == "nccl"
    where = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    packed = torch.cat([probs, has_face.unsqueeze(1).to(probs.dtype),
                        frames.unsqueeze(1).to(probs.dtype)], dim=1).to(where)  # fmt: skip
    dist.all_reduce(packed)  # pyright: ignore[reportUnknownMemberType]
    packed = packed.cpu()
    gathered: list[list[tuple[int, str, str]] | None] = [None] * world
    dist.all_gather_object(gathered, bad)  # pyright: ignore[reportUnknownMemberType]
    merged = [item for part in gathered if part is not None for item in part]
    classes = probs.shape[1]
    return (
        packed[:, :classes],
        packed[:, classes] > 0.5,
        packed[:, classes + 1].round().long(),
        merged,
    )
