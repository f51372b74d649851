"""sertoolkit: composable PyTorch components for semi-supervised speech emotion recognition.

Implements, as independent pieces, the method of Zhang et al. (2021), *Combining cross-modal
knowledge transfer and semi-supervised learning for speech emotion recognition*:

* :mod:`sertoolkit.augment`: weak (feature dropout) and strong (SpecAugment) augmentations;
* :mod:`sertoolkit.masking`: confidence, agreement and random selection masks;
* :mod:`sertoolkit.fusion`: FF1 (Consistent & Random), FF2 (Weighted Fusion), FixMatch and
  direct-CMKT pseudo-labels, and the masked cross-entropy they train with;
* :mod:`sertoolkit.pooling`: face-frame sampling and frame-to-utterance pooling;
* :mod:`sertoolkit.taxonomy`: class sets and the expression -> sentiment / emotion maps;
* :mod:`sertoolkit.losses`: FixMatch, Pi-model and temporal-ensembling losses;
* :mod:`sertoolkit.metrics`: WA, UA, weighted F1 and the confusion matrix;
* :mod:`sertoolkit.schedules`: the paper's learning-rate schedule.
"""

from sertoolkit import augment, fusion, losses, masking, metrics, pooling, schedules, taxonomy

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "augment",
    "fusion",
    "losses",
    "masking",
    "metrics",
    "pooling",
    "schedules",
    "taxonomy",
]
