"""sertoolkit: composable PyTorch components for semi-supervised speech emotion recognition.

Implements, as independent pieces, the method of Zhang et al. (2021), *Combining cross-modal
knowledge transfer and semi-supervised learning for speech emotion recognition*:

* [sertoolkit.augment][]: weak (feature dropout) and strong (SpecAugment) augmentations;
* [sertoolkit.masking][]: confidence, agreement and random selection masks;
* [sertoolkit.fusion][]: FF1 (Consistent & Random), FF2 (Weighted Fusion), FixMatch and
  direct-CMKT pseudo-labels, and the masked cross-entropy they train with;
* [sertoolkit.pooling][]: face-frame sampling and frame-to-utterance pooling;
* [sertoolkit.taxonomy][]: class sets and the expression -> sentiment / emotion maps;
* [sertoolkit.losses][]: FixMatch, Pi-model and temporal-ensembling losses;
* [sertoolkit.metrics][]: WA, UA, weighted F1 and the confusion matrix;
* [sertoolkit.schedules][]: the paper's learning-rate schedule;
* [sertoolkit.encoders][], [sertoolkit.features][], [sertoolkit.datasets][]: the
  models, feature extractors and dataset readers, imported on first access (they need
  torchaudio, soundfile and friends; the modules above need torch alone).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from sertoolkit import augment, fusion, losses, masking, metrics, pooling, schedules, taxonomy

if TYPE_CHECKING:  # imported lazily at run time, by __getattr__ below
    from sertoolkit import datasets, encoders, features

__version__ = "0.1.0"

_LAZY = ("datasets", "encoders", "features")

__all__ = [
    "__version__",
    "augment",
    "datasets",
    "encoders",
    "features",
    "fusion",
    "losses",
    "masking",
    "metrics",
    "pooling",
    "schedules",
    "taxonomy",
]


def __getattr__(name: str) -> ModuleType:
    """Import ``encoders``, ``features`` and ``datasets`` on first access (PEP 562)."""
    if name in _LAZY:
        module = importlib.import_module(f"sertoolkit.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'sertoolkit' has no attribute {name!r}")
