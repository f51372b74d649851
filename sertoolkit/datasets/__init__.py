"""Readers for the paper's datasets in their native layouts, and a feature cache (Sec. 4.1-4.2).

* [read_iemocap][]: IEMOCAP's official release, 4 classes, speaker-independent split;
* [read_chsims][]: CH-SIMS' MMSA-style release, 3 sentiments, official split;
* [read_manifest][] and [expression_probabilities][]: unlabelled audio-visual
  collections (iQIYI-VID-like, EmoVoxCeleb-like) and their utterance-level face-expression
  distributions;
* [extract_features][]: features extracted once and cached as memory-mapped arrays.

Readers take local paths only: nothing is downloaded. They return plain records (an index of
files, labels and splits), so they fit any training loop; bad inputs are reported in a
``skipped`` list, malformed annotations raise [DatasetFormatError][] naming the file and
line. Why a library module rather than benchmark code: parsing a release's annotation format,
merging its labels into the paper's classes and making its speaker split are the steps every
user of these datasets must get exactly right, like ``torchaudio.datasets``; the readers hold
no paths and no training logic.
"""

from sertoolkit.datasets._common import (
    DatasetFormatError,
    LabelledDataset,
    Skipped,
    Split,
    Utterance,
)
from sertoolkit.datasets.cache import FeatureSet, extract_features
from sertoolkit.datasets.chsims import CHSIMSAnnotation, read_chsims
from sertoolkit.datasets.iemocap import (
    IEMOCAP_LABELS,
    IEMOCAP_OTHER_LABELS,
    IEMOCAP_PAPER_COUNTS,
    DatasetCountWarning,
    iemocap_speaker,
    read_iemocap,
)
from sertoolkit.datasets.manifest import (
    IMAGE_SUFFIXES,
    Manifest,
    UnlabelledClip,
    VisualEvidence,
    VisualKind,
    expression_probabilities,
    read_manifest,
)

__all__ = [
    "IEMOCAP_LABELS",
    "IEMOCAP_OTHER_LABELS",
    "IEMOCAP_PAPER_COUNTS",
    "IMAGE_SUFFIXES",
    "CHSIMSAnnotation",
    "DatasetCountWarning",
    "DatasetFormatError",
    "FeatureSet",
    "LabelledDataset",
    "Manifest",
    "Skipped",
    "Split",
    "UnlabelledClip",
    "Utterance",
    "VisualEvidence",
    "VisualKind",
    "expression_probabilities",
    "extract_features",
    "iemocap_speaker",
    "read_chsims",
    "read_iemocap",
    "read_manifest",
]
