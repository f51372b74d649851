"""IEMOCAP (Busso et al. 2008) read from its official release folder (paper Sec. 4.1).

Layout read::

    <root>/Session1 ... Session5/
        dialog/EmoEvaluation/<dialog>.txt     # one annotation line per utterance
        sentences/wav/<dialog>/<utterance>.wav

Annotation lines look like (tab-separated)::

    [6.2901 - 8.2357]	Ses01F_impro01_F000	neu	[2.5000, 2.5000, 2.5000]

Every other line of those files (headers, ``C-E1:`` per-annotator lines, blank lines) is
skipped; so are sub-folders of ``EmoEvaluation`` and macOS ``._*`` files.

The paper's four classes are neutral (``neu``), happy (``hap`` and ``exc``, excited merged
into happy), angry (``ang``) and sad (``sad``); the release's other labels (``fru``, ``sur``,
``fea``, ``dis``, ``oth``, ``xxx``) are counted in
[LabelledDataset.excluded][sertoolkit.datasets.LabelledDataset.excluded]. On the full release
this gives exactly 5,531 utterances: 1,708 neutral, 1,636 happy, 1,103 angry, 1,084 sad
([IEMOCAP_PAPER_COUNTS][]); [read_iemocap][] warns when the counts differ.

Speakers: the session plus the letter before the utterance number (``Ses01F_impro01_M012``
is ``Ses01M``, the male speaker of session 1). The paper's split is speaker-independent: the
8 speakers of sessions 1-4 train and the two speakers of session 5 are validation and test.
It does not say which is which; the default is ``Ses05F`` validation, ``Ses05M`` test (the
synthetic corpus of ``benchmarks/`` follows the same choice).
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Sequence

from sertoolkit.datasets._common import (
    DatasetFormatError,
    LabelledDataset,
    Skipped,
    Split,
    Utterance,
    as_path,
    check_str,
)
from sertoolkit.taxonomy import IEMOCAP_EMOTIONS

__all__ = [
    "IEMOCAP_LABELS",
    "IEMOCAP_OTHER_LABELS",
    "IEMOCAP_PAPER_COUNTS",
    "DatasetCountWarning",
    "iemocap_speaker",
    "read_iemocap",
]

IEMOCAP_LABELS: dict[str, str] = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "happy",
    "ang": "angry",
    "sad": "sad",
}
"""Release label -> the paper's class (excited is merged into happy)."""

IEMOCAP_OTHER_LABELS: frozenset[str] = frozenset({"fru", "sur", "fea", "dis", "oth", "xxx"})
"""Release labels outside the paper's four classes (left out, counted)."""

IEMOCAP_PAPER_COUNTS: dict[str, int] = {"neutral": 1708, "happy": 1636, "angry": 1103, "sad": 1084}
"""Utterances per class on the full release (paper Sec. 4.1; 5,531 in all)."""

_LINE = re.compile(
    r"^\[(?P<start>\d+(?:\.\d+)?) - (?P<end>\d+(?:\.\d+)?)\]\t(?P<id>\S+)\t(?P<label>\S+)\t"
    r"\[[^\]]*\]\s*$"
)
_UTTERANCE = re.compile(r"^(?P<session>Ses0[1-5])[FM]_\S*_(?P<gender>[FM])\d+$")
# an utterance id anywhere in a line: such a line is never skipped silently
_ANY_UTTERANCE = re.compile(r"\bSes0[1-5][FM]_\S*_[FM]\d+\b")


class DatasetCountWarning(UserWarning):
    """The class counts read differ from the ones the paper reports for the full release."""


def iemocap_speaker(utterance_id: str) -> str:
    """The speaker of an IEMOCAP utterance: session plus the letter before the number.

    Examples:
        >>> iemocap_speaker("Ses01F_impro01_M012")
        'Ses01M'
        >>> iemocap_speaker("Ses05M_script01_1b_F004")
        'Ses05F'

    Raises:
        ValueError: If the id does not look like ``Ses0<1-5><F|M>_<dialog>_<F|M><number>``.
    """
    check_str("utterance_id", utterance_id)
    match = _UTTERANCE.match(utterance_id)
    if match is None:
        raise ValueError(
            f"Expected `utterance_id` to look like 'Ses01F_impro01_M012', but got {utterance_id!r}."
        )
    return match["session"] + match["gender"]


def _check_speakers(name: str, speakers: Sequence[str]) -> tuple[str, ...]:
    if isinstance(speakers, str):
        raise TypeError(f"Expected `{name}` to be a sequence of speaker ids, but got a str.")
    out = tuple(speakers)
    bad = [s for s in out if re.fullmatch(r"Ses0[1-5][FM]", s) is None]
    if bad:
        got = ", ".join(map(repr, bad))
        raise ValueError(f"Expected `{name}` to hold speaker ids like 'Ses05F', but got {got}.")
    return out


def read_iemocap(
    root: str | os.PathLike[str],
    *,
    val_speakers: Sequence[str] = ("Ses05F",),
    test_speakers: Sequence[str] = ("Ses05M",),
    check_counts: bool = True,
) -> LabelledDataset:
    """Index the IEMOCAP release for the paper's 4-class task with a speaker-independent split.

    Args:
        root: The release folder holding ``Session1`` ... ``Session5``.
        val_speakers: Speakers whose utterances form the validation split.
        test_speakers: Speakers whose utterances form the test split. Every other speaker
            trains.
        check_counts: Warn ([DatasetCountWarning][]) when the class counts differ from
            [IEMOCAP_PAPER_COUNTS][], e.g. on a partial copy of the release.

    Returns:
        The index; utterances whose wav file is missing are in ``skipped``.

    Raises:
        FileNotFoundError: If ``root`` or its ``Session<n>`` folders are missing.
        DatasetFormatError: On a malformed annotation line or an unknown label (names the
            file and line).
        ValueError: If a speaker is in both ``val_speakers`` and ``test_speakers``.
    """
    val = _check_speakers("val_speakers", val_speakers)
    test = _check_speakers("test_speakers", test_speakers)
    if set(val) & set(test):
        raise ValueError(
            "Expected `val_speakers` and `test_speakers` to be disjoint, but both hold "
            f"{sorted(set(val) & set(test))}."
        )
    base = as_path("root", root)
    if not base.is_dir():
        raise FileNotFoundError(f"IEMOCAP root folder not found: {str(base)!r}")
    sessions = sorted(p for p in base.glob("Session[1-5]") if p.is_dir())
    if not sessions:
        raise FileNotFoundError(
            f"No Session1 ... Session5 folders in the IEMOCAP root {str(base)!r}"
        )
    classes = IEMOCAP_EMOTIONS
    utterances: list[Utterance] = []
    skipped: list[Skipped] = []
    excluded: Counter[str] = Counter()
    seen: set[str] = set()
    for session in sessions:
        eval_dir = session / "dialog" / "EmoEvaluation"
        if not eval_dir.is_dir():
            raise FileNotFoundError(f"IEMOCAP annotation folder not found: {str(eval_dir)!r}")
        for txt in sorted(eval_dir.glob("*.txt")):
            if txt.name.startswith("._") or not txt.is_file():
                continue
            # utf-8-sig: a byte-order mark would otherwise hide the first line's "["
            with txt.open(encoding="utf-8-sig", errors="replace") as handle:
                for number, line in enumerate(handle, start=1):
                    text = line.strip()  # leading whitespace is not data
                    if not text.startswith("["):
                        # the "%" header and the per-annotator "C-E2:" / "A-E3:" lines carry
                        # no utterance id; a line that does is malformed, never skipped
                        if _ANY_UTTERANCE.search(text) is not None:
                            raise DatasetFormatError(
                                txt,
                                number,
                                "an utterance id on a line that is not an annotation line "
                                "'[start - end]<TAB>utterance<TAB>label<TAB>[v, a, d]': "
                                f"{text!r}",
                            )
                        continue
                    match = _LINE.match(text)
                    if match is None:
                        raise DatasetFormatError(
                            txt,
                            number,
                            "malformed annotation line: expected "
                            "'[start - end]<TAB>utterance<TAB>label<TAB>[v, a, d]', "
                            f"got {line.strip()!r}",
                        )
                    uid, raw = match["id"], match["label"]
                    try:
                        speaker = iemocap_speaker(uid)
                    except ValueError:
                        raise DatasetFormatError(
                            txt, number, f"malformed utterance id {uid!r}"
                        ) from None
                    if raw in IEMOCAP_OTHER_LABELS:
                        excluded[raw] += 1
                        continue
                    if raw not in IEMOCAP_LABELS:
                        known = sorted(IEMOCAP_LABELS.keys() | IEMOCAP_OTHER_LABELS)
                        raise DatasetFormatError(
                            txt, number, f"unknown label {raw!r}; known labels: {', '.join(known)}"
                        )
                    if uid in seen:
                        skipped.append(Skipped(txt, f"line {number}: duplicate utterance {uid}"))
                        continue
                    seen.add(uid)
                    dialog = uid.rsplit("_", 1)[0]
                    wav = session / "sentences" / "wav" / dialog / f"{uid}.wav"
                    if not wav.is_file():
                        skipped.append(Skipped(wav, "audio file missing"))
                        continue
                    split: Split = (
                        "val" if speaker in val else "test" if speaker in test else "train"
                    )
                    label = classes.index(IEMOCAP_LABELS[raw])
                    utterances.append(Utterance(uid, wav, label, split, speaker))
    dataset = LabelledDataset("IEMOCAP", classes, utterances, skipped, dict(excluded))
    counts = dataset.counts()
    if check_counts and counts != IEMOCAP_PAPER_COUNTS:
        got = ", ".join(f"{n} {c}" for c, n in counts.items())
        want = ", ".join(f"{n} {c}" for c, n in IEMOCAP_PAPER_COUNTS.items())
        warnings.warn(
            f"IEMOCAP at {str(base)!r} gives {sum(counts.values())} utterances ({got}); the "
            f"paper's full release gives 5531 ({want}). Results will not be comparable "
            "with the paper's: check that all five sessions and their wav files are present.",
            DatasetCountWarning,
            stacklevel=2,
        )
    return dataset
