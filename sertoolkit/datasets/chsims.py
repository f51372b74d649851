"""CH-SIMS (Yu et al. 2020) read from its MMSA-style release (paper Sec. 4.1).

Layout read::

    <root>/label.csv                      # video_id, clip_id, label, label_A, ..., mode
    <root>/Raw/<video_id>/<clip_id>.mp4   # the clips; audio is read from the video
    <audio_dir>/<video_id>/<clip_id>.wav  # optional pre-extracted audio instead

Sentiment classes come from the chosen score column with
[sertoolkit.taxonomy.sentiment_from_score][] (negative < -0.1 <= neutral <= 0.1 <
positive; -0.1 and 0.1 are neutral). The split is the release's official ``mode`` column
(``train`` / ``valid`` / ``test``; ``valid`` becomes ``"val"``).

Which annotation: CH-SIMS has a multimodal score (``label``) and one per modality
(``label_T``, ``label_A``, ``label_V``). The default is the audio-only ``label_A``: the task is
emotion recognition from speech, and the paper's premise (Fig. 1) is that audio and face
disagree on 51.81% of clips, so the multimodal score often describes what the audio does not
carry. ``annotation="label"`` gives the multimodal target instead.

Decoding ``.mp4`` needs PyAV (``pip install 'sertoolkit[video]'``); see
[sertoolkit.features.load_audio][].
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from typing import Literal, get_args

from sertoolkit.datasets._common import (
    DatasetFormatError,
    LabelledDataset,
    Skipped,
    Split,
    Utterance,
    as_path,
    check_str,
)
from sertoolkit.taxonomy import SENTIMENTS, sentiment_from_score

__all__ = ["CHSIMSAnnotation", "read_chsims"]

CHSIMSAnnotation = Literal["label_A", "label", "label_T", "label_V"]
"""The CH-SIMS score column a label is taken from."""

_MODES: Mapping[str, Split] = {"train": "train", "valid": "val", "test": "test"}


def read_chsims(
    root: str | os.PathLike[str],
    *,
    annotation: CHSIMSAnnotation = "label_A",
    audio_dir: str | os.PathLike[str] | None = None,
) -> LabelledDataset:
    """Index CH-SIMS for the paper's 3-class sentiment task with the official split.

    Args:
        root: The release folder holding ``label.csv`` and ``Raw/``.
        annotation: The score column that gives the label (default: audio-only ``label_A``).
        audio_dir: A folder of pre-extracted ``<video_id>/<clip_id>.wav`` files to read
            instead of the ``Raw/`` videos.

    Returns:
        The index; clips whose audio file is missing are in ``skipped``. ``Utterance.id`` is
        ``"<video_id>/<clip_id>"`` and ``Utterance.score`` the score used.

    Raises:
        FileNotFoundError: If ``root``, ``label.csv`` or ``audio_dir`` is missing.
        DatasetFormatError: On a missing column, a score that is not a number in [-1, 1] or
            an unknown ``mode`` (names the file and line).
        ValueError: On an unknown ``annotation``.
    """
    check_str("annotation", annotation)
    if annotation not in get_args(CHSIMSAnnotation):
        raise ValueError(
            f"Expected `annotation` to be one of {get_args(CHSIMSAnnotation)}, "
            f"but got {annotation!r}."
        )
    base = as_path("root", root)
    if not base.is_dir():
        raise FileNotFoundError(f"CH-SIMS root folder not found: {str(base)!r}")
    table = base / "label.csv"
    if not table.is_file():
        raise FileNotFoundError(f"CH-SIMS annotation file not found: {str(table)!r}")
    audio_base = as_path("audio_dir", audio_dir) if audio_dir is not None else None
    if audio_base is not None and not audio_base.is_dir():
        raise FileNotFoundError(f"CH-SIMS audio folder not found: {str(audio_base)!r}")
    utterances: list[Utterance] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    with table.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in ("video_id", "clip_id", annotation, "mode") if c not in columns]
        if missing:
            raise DatasetFormatError(
                table, 1, f"missing column(s) {', '.join(missing)}; the header has {columns}"
            )
        for row in reader:
            number = reader.line_num
            if None in row or any(row.get(c) is None for c in columns):
                raise DatasetFormatError(
                    table, number, f"expected {len(columns)} fields as in the header"
                )
            video, clip = row["video_id"].strip(), row["clip_id"].strip()
            if not video or not clip:
                raise DatasetFormatError(table, number, "empty video_id or clip_id")
            text = row[annotation].strip()
            try:
                score = float(text)
            except ValueError:
                score = math.nan
            if not -1.0 - 1e-6 <= score <= 1.0 + 1e-6:
                raise DatasetFormatError(
                    table, number, f"{annotation} must be a number in [-1, 1], got {text!r}"
                )
            mode = row["mode"].strip()
            if mode not in _MODES:
                raise DatasetFormatError(
                    table, number, f"unknown mode {mode!r}; expected train, valid or test"
                )
            uid = f"{video}/{clip}"
            if uid in seen:
                skipped.append(Skipped(table, f"line {number}: duplicate clip {uid}"))
                continue
            seen.add(uid)
            audio = (
                audio_base / video / f"{clip}.wav"
                if audio_base is not None
                else base / "Raw" / video / f"{clip}.mp4"
            )
            if not audio.is_file():
                skipped.append(Skipped(audio, "audio file missing"))
                continue
            label = sentiment_from_score(score)
            utterances.append(Utterance(uid, audio, label, _MODES[mode], None, score))
    return LabelledDataset("CH-SIMS", SENTIMENTS, utterances, skipped)
