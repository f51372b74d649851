"""Extract audio features once, cache them on disk as memory-mappable arrays, resume on restart.

[extract_features][] runs a feature extractor ([sertoolkit.features.SpectrogramFeatures][],
[sertoolkit.features.Wav2VecFeatures][], or any module with their call signature) over a
list of audio files and stores, in ``<cache_dir>/<key>/``:

* ``features.npy``: ``(files, max_frames, dim)`` float16, valid frames first, zero padding
  after (the library's layout; sequences longer than ``max_frames`` keep their head, see
  [sertoolkit.features.fix_length][]), read back with ``numpy.load(..., mmap_mode="r")``;
* ``lengths.npy``: ``(files,)`` int64 valid frames;
* ``ok.npy``: ``(files,)`` bool, ``False`` for a file that was skipped (its row is zeros);
* ``skipped.json``: the skipped files and why (unreadable, truncated, empty, NaN or inf
  samples, too short for one frame, features that are not finite in float16);
* ``meta.json``: the settings the key was made from.

The key hashes the extractor's class, settings and weights, ``max_frames``, and every file's
path, size and modification time, so a second run with the same inputs reads the cache and any
change extracts afresh. Work in progress lives in ``<key>.partial/`` and is flushed after
every batch with a record of how far it got; an interrupted extraction resumes there and the
folder is renamed to ``<key>/`` only when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from sertoolkit.datasets._common import Skipped, as_path, process_group
from sertoolkit.features import TARGET_SAMPLE_RATE, fix_length, load_audio

__all__ = ["FeatureSet", "extract_features"]


@dataclass
class FeatureSet:
    """Cached features of a list of files (see the module docstring for the layout).

    Attributes:
        features: ``(files, max_frames, dim)`` float16, memory-mapped read-only.
        lengths: ``(files,)`` int64 valid frames (0 for a skipped file).
        ok: ``(files,)`` bool, ``False`` for a skipped file.
        skipped: The skipped files and why.
        path: The cache folder.
    """

    features: NDArray[Any]
    lengths: NDArray[Any]
    ok: NDArray[Any]
    skipped: list[Skipped] = field(default_factory=list[Skipped])
    path: Path = Path()

    def __post_init__(self) -> None:
        for name in ("features", "lengths", "ok"):
            if not isinstance(getattr(self, name), np.ndarray):
                raise TypeError(
                    f"Expected `{name}` to be a numpy array, but got "
                    f"{type(getattr(self, name)).__name__}."
                )
        n = self.features.shape[0] if self.features.ndim == 3 else -1
        if n < 0:
            raise ValueError(
                "Expected `features` to be a (files, frames, dim) array, but got shape "
                f"{self.features.shape}."
            )
        for name in ("lengths", "ok"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"Expected `{name}` to be of shape ({n},), one entry per file, but got shape "
                    f"{getattr(self, name).shape}."
                )
        self.path = as_path("path", self.path)

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def tensors(self, index: Sequence[int] | NDArray[Any] | None = None) -> tuple[Tensor, Tensor]:
        """``(features, lengths)`` of the given rows (all by default) as tensors in memory.

        Raises:
            TypeError: If ``index`` is not a sequence or array of ints.
            ValueError: If an index is outside ``[0, len(self))``.
        """
        if index is None:
            rows: slice | NDArray[np.int64] = slice(None)
        else:
            if isinstance(index, (str, bytes)):
                raise TypeError(
                    f"Expected `index` to be a sequence of ints, but got {type(index).__name__}."
                )
            array = np.asarray(index)
            if array.size and not np.issubdtype(array.dtype, np.integer):
                raise TypeError(
                    f"Expected `index` to be a sequence of ints, but got dtype {array.dtype}."
                )
            rows = np.asarray(array, dtype=np.int64).ravel()
            n = len(self.lengths)
            if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= n):
                raise ValueError(
                    f"Expected `index` to be row numbers in [0, {n}), but got values in "
                    f"[{int(rows.min())}, {int(rows.max())}]."
                )
        return (
            torch.as_tensor(np.array(self.features[rows])),
            torch.as_tensor(np.array(self.lengths[rows])),
        )


def _fingerprint(extractor: nn.Module, files: Sequence[Path], settings: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(type(extractor).__qualname__.encode())
    digest.update(extractor.extra_repr().encode())
    digest.update(repr(extractor).encode())  # every submodule's settings, e.g. in a wrapper
    for name, tensor in sorted(extractor.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    for file in files:
        try:
            stat = file.stat()
            digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{file}|missing\n".encode())
    return digest.hexdigest()[:16]


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _load(folder: Path) -> FeatureSet:
    skipped = [Skipped(Path(p), r) for p, r in json.loads((folder / "skipped.json").read_text())]
    return FeatureSet(
        np.load(folder / "features.npy", mmap_mode="r"),
        np.load(folder / "lengths.npy"),
        np.load(folder / "ok.npy"),
        skipped,
        folder,
    )


def _barrier(distributed: bool) -> None:
    if distributed:
        import torch.distributed as dist

        dist.barrier()  # pyright: ignore[reportUnknownMemberType]


def _sum_over_ranks(value: int, distributed: bool, device: torch.device) -> int:
    if not distributed:
        return value
    import torch.distributed as dist

    where = device if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([value], dtype=torch.long, device=where)
    dist.all_reduce(t)  # pyright: ignore[reportUnknownMemberType]
    return int(t.item())


def extract_features(
    files: Sequence[str | os.PathLike[str]],
    extractor: nn.Module,
    cache_dir: str | os.PathLike[str],
    *,
    max_frames: int,
    batch_size: int = 16,
    shard_size: int = 1024,
    device: torch.device | str | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    distributed: bool = False,
) -> FeatureSet:
    """Extract (or read from the cache) features of audio files; skip and report bad files.

    Each file is read with [sertoolkit.features.load_audio][] at 16 kHz. A file that
    cannot be read, is a truncated wav, holds no samples or a NaN / inf sample, is too short
    to give one frame, or whose features are not finite once stored in float16 (beyond
    +-65504, e.g. unnormalised power spectra of a loud file) is recorded in ``skipped`` (path
    and reason) and its row stays zero with ``ok = False``; extraction goes on. Batches are
    zero-padded; both sertoolkit extractors make an example's features
    independent of its batch's padding.

    The files are cut into shards of ``shard_size``. Each shard keeps its own progress record
    (``shard-NNNNNN.json`` in the work folder, rewritten atomically after every batch, after
    the batch's rows are flushed to the shared ``features.npy``), so an interrupted extraction
    resumes after the last finished batch of every shard. With ``distributed=True`` every rank
    of an initialised ``torch.distributed`` group must call this with the same arguments:
    shard ``i`` goes to rank ``i % world_size``, every rank writes its rows of the one
    memory-mapped store, and rank 0 writes the index (lengths, ok, the merged skip report)
    once all ranks are done. No process pool is involved: the ranks are the ones ``torchrun``
    started. The result is byte for byte the single-process one.

    Args:
        files: Audio files, in the order of the rows.
        extractor: ``extractor(waveforms (b, samples), lengths (b,)) -> (features (b, t, d),
            frames (b,))`` at 16 kHz.
        cache_dir: Folder of the cache (created if needed; shared by all ranks).
        max_frames: Frames kept per file (paper: 555 STFT, 445 wav2vec).
        batch_size: Files per extractor call.
        shard_size: Files per shard (the unit of work of a rank).
        device: Where the extractor runs (default: where its parameters or buffers are).
        settings: Extra values to key the cache with (e.g. a feature transform applied later).
        progress: Called with numbers of files done, summing to ``len(files)`` (also for the
            files a resumed run finds done). Under ``distributed`` only rank 0's is called,
            with the global counts, once per round of shards.
        distributed: Share the work between the ranks of the process group.

    Returns:
        The cached features, memory-mapped.

    Raises:
        TypeError: If ``files``, ``extractor`` or a size has the wrong Python type (a
            ``bool`` is not a size).
        ValueError: On a bad ``max_frames``, ``batch_size`` or ``shard_size``, or
            ``distributed=True`` without a process group.
    """
    for name, value in (("max_frames", max_frames), ("batch_size", batch_size),
                        ("shard_size", shard_size)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"Expected `{name}` to be an int, but got {type(value).__name__}.")
        if value <= 0:
            raise ValueError(f"Expected `{name}` to be an int > 0, but got {value!r}.")
    if isinstance(files, (str, bytes, os.PathLike)) or not isinstance(files, Sequence):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            f"Expected `files` to be a sequence of paths, but got {type(files).__name__}."
        )
    if not isinstance(extractor, nn.Module):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(
            f"Expected `extractor` to be a torch.nn.Module, but got {type(extractor).__name__}."
        )
    rank, world = process_group(distributed)
    report = progress if rank == 0 else None
    paths = [as_path("files", f) for f in files]
    meta = {"max_frames": max_frames, "sample_rate": TARGET_SAMPLE_RATE, **(settings or {})}
    key = _fingerprint(extractor, paths, meta)
    root = Path(cache_dir)
    final = root / key
    if (final / "skipped.json").is_file():
        if report is not None:
            report(len(paths))
        return _load(final)
    if device is None:
        tensor = next(iter(extractor.parameters()), next(iter(extractor.buffers()), None))
        device = tensor.device if tensor is not None else "cpu"
    dev = torch.device(device)
    extractor.eval()
    with torch.no_grad():  # the feature dimension, from one second of silence
        probe = torch.zeros(1, TARGET_SAMPLE_RATE, device=dev)
        dim = int(extractor(probe, torch.tensor([TARGET_SAMPLE_RATE], device=dev))[0].shape[2])
    partial = root / f"{key}.partial"
    n = len(paths)
    layout = {"files": n, "shard_size": shard_size, "dim": dim}
    layout_file = partial / "layout.json"
    fresh = not (partial / "features.npy").is_file() or (
        not layout_file.is_file() or json.loads(layout_file.read_text()) != layout
    )  # work left with another shard size cannot be resumed: start over
    if rank == 0 and fresh:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        _write_json(layout_file, layout)
        tmp = partial / "features.npy.tmp"
        store = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.float16, shape=(n, max_frames, dim)
        )
        store.flush()
        del store
        os.replace(tmp, partial / "features.npy")
    _barrier(distributed)
    feats = np.lib.format.open_memmap(partial / "features.npy", mode="r+")
    shards = -(-n // shard_size)

    def marker(shard: int) -> Path:
        return partial / f"shard-{shard:06d}.json"

    def state_of(shard: int) -> dict[str, Any]:
        if marker(shard).is_file():
            return cast(dict[str, Any], json.loads(marker(shard).read_text()))
        size = min(n, (shard + 1) * shard_size) - shard * shard_size
        return {"done": 0, "lengths": [0] * size, "ok": [False] * size, "skipped": []}

    found = sum(int(state_of(i)["done"]) for i in range(rank, shards, world))
    found = _sum_over_ranks(found, distributed, dev)
    if report is not None and found:
        report(found)
    for round_start in range(0, shards, world):
        shard = round_start + rank
        extracted = 0
        if shard < shards:
            lo = shard * shard_size
            state = state_of(shard)
            hi = lo + len(state["lengths"])
            while lo + state["done"] < hi:
                start = lo + state["done"]
                batch = range(start, min(start + batch_size, hi))
                _extract_batch(paths, batch, extractor, dev, max_frames, feats, lo, state)
                feats.flush()
                state["done"] = batch.stop - lo
                _write_json(marker(shard), state)
                extracted += len(batch)
                if report is not None and not distributed:
                    report(len(batch))
        if distributed:
            total = _sum_over_ranks(extracted, distributed, dev)
            if report is not None:
                report(total)
    del feats
    _barrier(distributed)
    if rank == 0:
        lengths = np.zeros(n, dtype=np.int64)
        ok = np.zeros(n, dtype=bool)
        skipped_rows: list[list[str]] = []
        for shard in range(shards):
            state = state_of(shard)
            lo = shard * shard_size
            lengths[lo : lo + len(state["lengths"])] = state["lengths"]
            ok[lo : lo + len(state["ok"])] = state["ok"]
            skipped_rows.extend(state["skipped"])
        np.save(partial / "lengths.npy", lengths)
        np.save(partial / "ok.npy", ok)
        _write_json(partial / "meta.json", {"key": key, "files": n, "dim": dim, **meta})
        _write_json(partial / "skipped.json", skipped_rows)
        layout_file.unlink(missing_ok=True)
        for shard in range(shards):
            marker(shard).unlink(missing_ok=True)
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
    _barrier(distributed)
    return _load(final)


def _extract_batch(
    paths: Sequence[Path],
    batch: range,
    extractor: nn.Module,
    dev: torch.device,
    max_frames: int,
    feats: NDArray[Any],
    lo: int,
    state: dict[str, Any],
) -> None:
    """Extract one batch into ``feats`` and record lengths, ok flags and skips in ``state``."""
    skipped: list[list[str]] = state["skipped"]
    waves: list[tuple[int, Tensor]] = []
    for i in batch:
        try:
            if paths[i].is_file() and paths[i].stat().st_size == 0:
                skipped.append([str(paths[i]), "empty (0 bytes)"])
                continue
            wave = load_audio(paths[i])
        except (OSError, ValueError) as err:
            reason = "empty (no samples)" if "no samples" in str(err) else f"unreadable: {err}"
            skipped.append([str(paths[i]), reason])
            continue
        waves.append((i, wave))
    if not waves:
        return
    sizes = torch.tensor([w.shape[0] for _, w in waves])
    padded = torch.zeros(len(waves), int(sizes.max()))
    for j, (_, w) in enumerate(waves):
        padded[j, : w.shape[0]] = w
    with torch.no_grad():
        out, frames = extractor(padded.to(dev), sizes.to(dev))
        out, frames = fix_length(out, max_frames, lengths=frames)
    out_np = out.to("cpu", torch.float16).numpy()
    frames_np = frames.cpu().numpy()
    for j, (i, w) in enumerate(waves):
        if frames_np[j] <= 0:
            skipped.append(
                [str(paths[i]), f"too short: {w.shape[0]} samples at 16 kHz give no frame"]
            )
            continue
        if not np.isfinite(out_np[j, : frames_np[j]]).all():
            skipped.append(
                [
                    str(paths[i]),
                    "non-finite features: NaN or inf, or values beyond the float16 range "
                    "(+-65504) of the cache (normalise the features)",
                ]
            )
            continue
        feats[i] = out_np[j]
        state["lengths"][i - lo] = int(frames_np[j])
        state["ok"][i - lo] = True
