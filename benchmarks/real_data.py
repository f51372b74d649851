"""The paper's real datasets in the pipeline: IEMOCAP or CH-SIMS plus an unlabelled manifest.

:func:`prepare_real` turns a :class:`RealSource` into the same :class:`corpus.Corpus` the
synthetic default gives, from sertoolkit's public API only:

1. index the labelled release (:func:`sertoolkit.datasets.read_iemocap` /
   :func:`~sertoolkit.datasets.read_chsims`) and the unlabelled manifest
   (:func:`~sertoolkit.datasets.read_manifest`), printing their counts and skips;
2. extract features once into the memory-mapped cache
   (:func:`~sertoolkit.datasets.extract_features`): STFT for Mandarin (CH-SIMS), wav2vec for
   English (IEMOCAP), Sec. 4.2, then the profile's scale-down;
3. pool each unlabelled clip's face-expression probabilities
   (:func:`~sertoolkit.datasets.expression_probabilities`) and map them to the target classes
   (:mod:`sertoolkit.taxonomy`); for 4-class work the clips whose visual label falls outside
   the four classes are dropped (Sec. 4.4) and counted.

The true emotion of an unlabelled clip is unknown on real data, so pseudo-label accuracy is
not reported (``u_audio_label`` is -1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from benchmarks.corpus import Corpus, Sizes, classes_of, scale_down
from benchmarks.pipeline import map_visual
from sertoolkit.datasets import (
    FeatureSet,
    LabelledDataset,
    Manifest,
    expression_probabilities,
    extract_features,
    read_chsims,
    read_iemocap,
    read_manifest,
)
from sertoolkit.encoders import MobileNetV2FaceModel
from sertoolkit.features import SpectrogramFeatures, Wav2VecFeatures

MAX_FRAMES = {"stft": 555, "wav2vec": 445}  # Sec. 4.2
PAPER_FEATURES = {"chsims": "stft", "iemocap": "wav2vec"}  # Mandarin: STFT, English: wav2vec


@dataclass(frozen=True)
class RealSource:
    """Where a real dataset is and how to read it (every field is a CLI option)."""

    dataset: str  # "chsims" | "iemocap"
    root: Path
    unlabelled: Path
    features: str  # "stft" | "wav2vec"
    wav2vec_checkpoint: Path | None = None
    wav2vec_architecture: str = "base"
    chsims_annotation: str = "label_A"
    chsims_audio_dir: Path | None = None
    val_speakers: tuple[str, ...] = ("Ses05F",)
    test_speakers: tuple[str, ...] = ("Ses05M",)
    face_model: Path | None = None
    face_width: float = 1.0
    face_size: int | None = None
    face_channels: int = 3

    def describe(self) -> dict[str, Any]:
        """JSON-able settings (they key the run folder)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def _extractor(source: RealSource) -> nn.Module:
    if source.features == "stft":
        return SpectrogramFeatures(log=True, normalize=False)
    return Wav2VecFeatures(
        source.wav2vec_checkpoint,
        architecture=source.wav2vec_architecture,  # type: ignore[arg-type]
    )


def _labelled(source: RealSource) -> LabelledDataset:
    if source.dataset == "iemocap":
        return read_iemocap(
            source.root, val_speakers=source.val_speakers, test_speakers=source.test_speakers
        )
    return read_chsims(
        source.root,
        annotation=source.chsims_annotation,  # type: ignore[arg-type]
        audio_dir=source.chsims_audio_dir,
    )


def _tensors(feats: FeatureSet, rows: np.ndarray, sizes: Sizes, kind: str) -> tuple[Tensor, Tensor]:
    x, lengths = feats.tensors(rows)
    x, lengths = scale_down(x.float(), lengths, sizes, cut_bins=kind == "stft")
    return x.to(torch.float16), lengths.long()


def prepare_real(
    source: RealSource,
    sizes: Sizes,
    cache: Path,
    device: torch.device,
    bar: Callable[[str, int], Callable[[int], None]],
    log: Callable[[str], None],
    distributed: bool = False,
) -> tuple[Corpus, dict[str, Any]]:
    """Read, featurise and pool one real dataset into a :class:`Corpus` (see module docstring).

    Under torchrun (``distributed``) every rank calls this: feature extraction and face
    scoring are sharded across the ranks, and every rank ends with the whole corpus.
    """
    name = source.dataset
    labelled = _labelled(source)
    manifest: Manifest = read_manifest(source.unlabelled)
    log(labelled.summary())
    log(manifest.summary())
    extractor = _extractor(source).to(device)
    feature_dir = cache / "features"
    utts = labelled.utterances
    feats_l = extract_features(
        [u.audio for u in utts],
        extractor,
        feature_dir,
        max_frames=MAX_FRAMES[source.features],
        device=device,
        progress=bar(f"{name}: {source.features} features (labelled)", len(utts)),
        distributed=distributed,
    )
    feats_u = extract_features(
        [c.audio for c in manifest.clips],
        extractor,
        feature_dir,
        max_frames=MAX_FRAMES[source.features],
        device=device,
        progress=bar(f"{name}: {source.features} features (unlabelled)", len(manifest.clips)),
        distributed=distributed,
    )
    face: nn.Module | None = None
    if any(c.visual_kind == "faces" for c in manifest.clips):
        if source.face_model is None:
            raise SystemExit(
                "reproduce_paper.py: error: the manifest has face crops (`faces`); pass "
                "--face-model with a local MobileNetV2 face-expression checkpoint"
            )
        face = MobileNetV2FaceModel.from_checkpoint(
            source.face_model, width_mult=source.face_width
        ).to(device)
    evidence = expression_probabilities(
        manifest.clips,
        face,
        image_size=source.face_size,
        channels=1 if source.face_channels == 1 else 3,
        device=device,
        progress=bar(f"{name}: face-expression evidence", len(manifest.clips)),
        distributed=distributed,
    )
    skipped = [*feats_l.skipped, *feats_u.skipped, *evidence.skipped]
    if skipped:
        log(f"{name}: {len(skipped)} file(s) skipped during extraction:")
        for s in skipped:
            log(f"  {s}")

    visual, valid = map_visual(evidence.probs, evidence.has_face, name)

    x: dict[str, Tensor] = {}
    lengths: dict[str, Tensor] = {}
    y: dict[str, Tensor] = {}
    ok_l = feats_l.ok
    labels = np.array([u.label for u in utts], dtype=np.int64)
    for split in ("train", "val", "test"):
        rows = np.array(
            [i for i, u in enumerate(utts) if u.split == split and ok_l[i]], dtype=np.int64
        )
        x[split], lengths[split] = _tensors(feats_l, rows, sizes, source.features)
        y[split] = torch.as_tensor(labels[rows])
    keep_u = torch.as_tensor(np.asarray(feats_u.ok, dtype=bool))
    if name == "iemocap":  # Sec. 4.4: only clips whose visual label is one of the four classes
        dropped_unmapped = int((keep_u & evidence.has_face & ~valid).sum())
        keep_u = keep_u & valid
    else:
        dropped_unmapped = 0
    rows_u = np.flatnonzero(keep_u.numpy())
    x["unlabelled"], lengths["unlabelled"] = _tensors(feats_u, rows_u, sizes, source.features)
    idx = torch.as_tensor(rows_u)
    n_u = len(rows_u)
    stats: dict[str, Any] = {
        "labelled_counts": {s: labelled.counts(s) for s in ("train", "val", "test")},
        "labelled_excluded_labels": labelled.excluded,
        "unlabelled_clips_in_manifest": len(manifest.clips),
        "clips_without_face": int((~evidence.has_face).sum()),
        "clips_dropped_unmapped_visual_label": dropped_unmapped,
        "split_sizes": {k: int(v.shape[0]) for k, v in x.items()},
        "skipped": [str(s) for s in [*labelled.skipped, *manifest.skipped, *skipped]],
    }
    for split, n in stats["split_sizes"].items():
        if n == 0:
            raise SystemExit(f"reproduce_paper.py: error: the {split} split of {name} is empty")
    corpus = Corpus(
        name,
        classes_of(name),
        x,
        lengths,
        y,
        visual[idx],
        valid[idx],
        torch.full((n_u,), -1, dtype=torch.long),
        torch.full((n_u,), -1, dtype=torch.long),
        stats,
    )
    return corpus, stats
