"""sertoolkit.datasets: IEMOCAP / CH-SIMS / manifest readers, visual evidence, feature cache.

The inputs are small datasets in the releases' native layouts (``datasets_fixtures``); every
expectation is computed from what the builders wrote (raw labels, scores, expressions,
waveforms), with the paper's rules written out here, not taken from the code under test.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import datasets_fixtures as fx
import numpy as np
import pytest
import soundfile
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, nn

import sertoolkit.datasets.iemocap as iemocap_module
from sertoolkit.datasets import (
    DatasetCountWarning,
    DatasetFormatError,
    Skipped,
    UnlabelledClip,
    expression_probabilities,
    extract_features,
    iemocap_speaker,
    read_chsims,
    read_iemocap,
    read_manifest,
)
from sertoolkit.features import SpectrogramFeatures, Wav2VecFeatures, fix_length, load_audio

# --- independent references -------------------------------------------------------------

# the paper's 4 IEMOCAP classes (Sec. 4.1): excited is merged into happy
PAPER_CLASSES = ("neutral", "happy", "angry", "sad")
PAPER_MAP = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}
SENTIMENT_NAMES = ("negative", "neutral", "positive")
EXPRESSION_COUNT = 7


def speaker_of(uid: str) -> str:
    """IEMOCAP speaker: the session, then the gender letter of the utterance (not the dialog)."""
    return uid[:5] + uid.rsplit("_", 1)[1][0]


def default_split(uid: str) -> str:
    speaker = speaker_of(uid)
    return {"Ses05F": "val", "Ses05M": "test"}.get(speaker, "train")


def sentiment(score: float) -> str:
    """CH-SIMS: negative < -0.1 <= neutral <= 0.1 < positive (the boundaries are neutral)."""
    return "negative" if score < -0.1 else "positive" if score > 0.1 else "neutral"


def sampled_frames(n: int, fps: float, interval: float = 0.24) -> list[int]:
    """Frames at times 0, interval, 2 interval, ... s: frame round(t * fps), while < n."""
    out: list[int] = []
    k = 0
    while (i := round(k * interval * fps)) < n:
        if not out or i != out[-1]:
            out.append(i)
        k += 1
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def pooled(rows: np.ndarray) -> np.ndarray:
    mean = rows.mean(axis=0)
    return mean / mean.sum()


def error_at(err: pytest.ExceptionInfo[DatasetFormatError], file: Path, line: int) -> None:
    """The error names the file and the 1-based line, as ``<file>:<line>: ...``."""
    assert err.value.file == file
    assert err.value.line == line
    assert str(err.value).startswith(f"{file}:{line}: ")


# --- IEMOCAP ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release"
    return root, fx.make_iemocap(root)


def small_iemocap(tmp_path: Path, sessions: int = 2) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "IEMOCAP_full_release"
    return root, fx.make_iemocap(root, sessions=sessions, seconds=0.05)


def annotation_file(root: Path, uid: str) -> Path:
    return (
        root / f"Session{int(uid[4])}" / "dialog" / "EmoEvaluation" / f"{uid.rsplit('_', 1)[0]}.txt"
    )


def test_iemocap_labels_follow_the_paper_mapping(iemocap: tuple[Path, dict[str, str]]) -> None:
    root, raw = iemocap
    ds = read_iemocap(root, check_counts=False)
    assert ds.name == "IEMOCAP"
    assert ds.classes == PAPER_CLASSES
    assert sorted(u.id for u in ds.utterances) == sorted(
        u for u, r in raw.items() if r in PAPER_MAP
    )
    assert len({u.id for u in ds.utterances}) == len(ds)
    for u in ds.utterances:
        assert ds.classes[u.label] == PAPER_MAP[raw[u.id]], u.id
        assert u.audio == fx.iemocap_wav(root, u.id)
        assert u.score is None
    # excited really is merged into happy, and both are present
    happy = {raw[u.id] for u in ds.utterances if ds.classes[u.label] == "happy"}
    assert happy == {"hap", "exc"}
    want_excluded = Counter(r for r in raw.values() if r not in PAPER_MAP)
    assert ds.excluded == dict(want_excluded) == {"fru": 10, "xxx": 10}
    assert ds.skipped == []
    assert ds.counts() == {c: 20 for c in PAPER_CLASSES}


def test_iemocap_default_split_is_speaker_independent(
    iemocap: tuple[Path, dict[str, str]],
) -> None:
    root, _ = iemocap
    ds = read_iemocap(root, check_counts=False)
    for u in ds.utterances:
        assert u.speaker == speaker_of(u.id)
        assert u.split == default_split(u.id), u.id
    # the gender letter of the utterance decides, not the dialog's lead speaker
    by_id = {u.id: u for u in ds.utterances}
    assert by_id["Ses05M_impro01_F000"].split == "val"
    assert by_id["Ses05F_impro01_M000"].split == "test"
    assert {u.speaker for u in ds.select("val")} == {"Ses05F"}
    assert {u.speaker for u in ds.select("test")} == {"Ses05M"}
    assert {u.speaker for u in ds.select("train")} == {
        f"Ses0{s}{g}" for s in range(1, 5) for g in "FM"
    }
    assert [u.id for u in ds.select("train")] == [u.id for u in ds.utterances if u.split == "train"]
    with pytest.raises(ValueError, match="split"):
        ds.select("dev")


def test_iemocap_custom_split(iemocap: tuple[Path, dict[str, str]]) -> None:
    root, _ = iemocap
    val, test = ["Ses01F", "Ses03M"], ("Ses02F", "Ses02M")
    ds = read_iemocap(root, val_speakers=val, test_speakers=test, check_counts=False)
    for u in ds.utterances:
        speaker = speaker_of(u.id)
        assert u.split == ("val" if speaker in val else "test" if speaker in test else "train")
    assert len(ds.select("val")) == len(ds.select("test")) == 16
    assert len(ds.select("train")) == 48


@pytest.mark.parametrize(
    ("val", "test", "error", "match"),
    [
        (("Ses05F",), ("Ses05M", "Ses05F"), ValueError, "disjoint"),
        (("Ses05F", "Ses01M"), ("Ses01M",), ValueError, "Ses01M"),
        (("Ses06F",), ("Ses05M",), ValueError, "Ses06F"),
        (("Ses05X",), ("Ses05M",), ValueError, "Ses05X"),
        ("Ses05F", ("Ses05M",), TypeError, "val_speakers"),
    ],
)
def test_iemocap_bad_speaker_split(
    iemocap: tuple[Path, dict[str, str]],
    val: Sequence[str],
    test: Sequence[str],
    error: type[Exception],
    match: str,
) -> None:
    root, _ = iemocap
    with pytest.raises(error, match=match):
        read_iemocap(root, val_speakers=val, test_speakers=test, check_counts=False)


@pytest.mark.parametrize(
    ("uid", "speaker"),
    [
        ("Ses01F_impro01_F000", "Ses01F"),
        ("Ses01F_impro01_M012", "Ses01M"),
        ("Ses03M_impro05b_F017", "Ses03F"),
        ("Ses05M_script01_1b_F004", "Ses05F"),
        ("Ses05F_script02_2_M041", "Ses05M"),
        ("Ses02M_script03_1_M1", "Ses02M"),
    ],
)
def test_iemocap_speaker_examples(uid: str, speaker: str) -> None:
    assert iemocap_speaker(uid) == speaker


DIALOGS = st.one_of(
    st.builds(lambda k, s: f"impro{k:02d}{s}", st.integers(1, 8), st.sampled_from(["", "a", "b"])),
    st.builds(
        lambda k, p, s: f"script{k:02d}_{p}{s}",
        st.integers(1, 3),
        st.integers(1, 3),
        st.sampled_from(["", "a", "b"]),
    ),
)


@given(
    st.integers(1, 5),
    st.sampled_from("FM"),
    DIALOGS,
    st.sampled_from("FM"),
    st.integers(0, 999),
)
def test_iemocap_speaker_property(
    session: int, lead: str, dialog: str, gender: str, number: int
) -> None:
    uid = f"Ses0{session}{lead}_{dialog}_{gender}{number:03d}"
    assert iemocap_speaker(uid) == f"Ses0{session}{gender}"


@pytest.mark.parametrize(
    "uid",
    [
        "Ses06F_impro01_F000",
        "Ses00M_impro01_M000",
        "Ses01X_impro01_F000",
        "Ses01F_impro01_X000",
        "Ses01F_impro01_F",
        "Ses01F_impro01_F00a",
        "ses01F_impro01_F000",
        "Ses01F_impro01_F000.wav",
        "",
    ],
)
def test_iemocap_speaker_rejects_malformed_ids(uid: str) -> None:
    with pytest.raises(ValueError, match="Ses01F_impro01_M012"):
        iemocap_speaker(uid)


def test_iemocap_script_dialogs(tmp_path: Path) -> None:
    root = tmp_path / "release"
    raw = fx.make_iemocap(root, seconds=0.05, dialogs=("script01_1b", "impro05a"))
    ds = read_iemocap(root, check_counts=False)
    assert sorted(u.id for u in ds.utterances) == sorted(
        u for u, r in raw.items() if r in PAPER_MAP
    )
    by_id = {u.id: u for u in ds.utterances}
    u = by_id["Ses05M_script01_1b_F004"]
    assert (u.speaker, u.split, ds.classes[u.label]) == ("Ses05F", "val", "angry")
    assert u.audio == root / "Session5/sentences/wav/Ses05M_script01_1b/Ses05M_script01_1b_F004.wav"
    for u in ds.utterances:
        assert u.split == default_split(u.id)


def test_iemocap_count_warning(
    iemocap: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = iemocap
    with pytest.warns(DatasetCountWarning, match="80 utterances") as record:
        read_iemocap(root)
    assert "5531" in str(record[0].message)
    assert record[0].filename == __file__  # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_iemocap(root, check_counts=False)
        # the check compares against the paper's counts: matching counts give no warning
        monkeypatch.setattr(
            iemocap_module, "IEMOCAP_PAPER_COUNTS", dict.fromkeys(PAPER_CLASSES, 20)
        )
        read_iemocap(root)


def test_iemocap_summary_counts(iemocap: tuple[Path, dict[str, str]]) -> None:
    root, raw = iemocap
    ds = read_iemocap(root, check_counts=False)
    lines = ds.summary().splitlines()
    assert lines[0] == "IEMOCAP: 80 utterances"
    for split in (None, "train", "val", "test"):
        counts = Counter(
            PAPER_MAP[r]
            for u, r in raw.items()
            if r in PAPER_MAP and (split is None or default_split(u) == split)
        )
        text = ", ".join(f"{counts[c]} {c}" for c in PAPER_CLASSES)
        assert f"  {split or 'all'}: {text} ({sum(counts.values())})" in lines
    assert "  train: 16 neutral, 16 happy, 16 angry, 16 sad (64)" in lines
    assert "  val: 2 neutral, 2 happy, 2 angry, 2 sad (8)" in lines
    assert "  not in the class set (left out): fru 10, xxx 10" in lines
    assert not any("skipped" in line for line in lines)


def test_iemocap_ignores_subfolders_and_appledouble_files(tmp_path: Path) -> None:
    root, _ = small_iemocap(tmp_path)
    before = read_iemocap(root, check_counts=False)
    evaluation = root / "Session1" / "dialog" / "EmoEvaluation"
    assert (evaluation / "Categorical").is_dir()  # as in the release
    # either would break the read if it were parsed: a malformed line, a new utterance
    (evaluation / "Categorical" / "Ses01F_impro01_e4_cat.txt").write_text(
        "[not an annotation\n" + fx.annotation_block(0.0, "Ses01F_impro01_F099", "neu")
    )
    (evaluation / "Attribute").mkdir()
    (evaluation / "Attribute" / "Ses01F_impro01.txt").write_text("[1 - 2]\tgarbage\n")
    (evaluation / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07\x00\x02\n[\xff\xfe\t\n")
    (evaluation / "folder.txt").mkdir()
    fx.write_wav(fx.iemocap_wav(root, "Ses01F_impro01_F099"), fx.tone(0.05, 150.0, 0))
    after = read_iemocap(root, check_counts=False)
    assert after.utterances == before.utterances
    assert after.skipped == [] and after.excluded == before.excluded


def test_iemocap_missing_wav_is_skipped_not_raised(tmp_path: Path) -> None:
    root, raw = small_iemocap(tmp_path)
    gone = fx.iemocap_wav(root, "Ses02M_impro01_F001")  # hap
    gone.unlink()
    fx.iemocap_wav(root, "Ses01F_impro01_M002").unlink()  # fru: excluded anyway
    ds = read_iemocap(root, check_counts=False)
    assert ds.skipped == [Skipped(gone, "audio file missing")]
    assert "Ses02M_impro01_F001" not in {u.id for u in ds.utterances}
    assert len(ds) == sum(r in PAPER_MAP for r in raw.values()) - 1
    assert ds.counts()["happy"] == 7
    assert ds.excluded == {"fru": 4, "xxx": 4}
    summary = ds.summary()
    assert "skipped 1 input(s):" in summary and f"{gone}: audio file missing" in summary


def test_iemocap_duplicate_utterance_is_skipped(tmp_path: Path) -> None:
    root, _ = small_iemocap(tmp_path)
    file = annotation_file(root, "Ses01M_impro01_M001")
    text = file.read_text()
    file.write_text(text + fx.annotation_block(40.0, "Ses01F_impro01_F000", "ang"))
    line = len(text.splitlines()) + 1
    ds = read_iemocap(root, check_counts=False)
    assert [u.id for u in ds.utterances].count("Ses01F_impro01_F000") == 1
    assert ds.skipped == [Skipped(file, f"line {line}: duplicate utterance Ses01F_impro01_F000")]


def test_iemocap_crlf_files_read_the_same(tmp_path: Path) -> None:
    root, _ = small_iemocap(tmp_path)
    before = read_iemocap(root, check_counts=False)
    for file in (root / "Session1" / "dialog" / "EmoEvaluation").glob("*.txt"):
        file.write_bytes(file.read_bytes().replace(b"\n", b"\r\n"))
    assert read_iemocap(root, check_counts=False).utterances == before.utterances


def test_iemocap_reads_a_partial_release(tmp_path: Path) -> None:
    root, raw = small_iemocap(tmp_path, sessions=2)
    with pytest.warns(DatasetCountWarning, match="32 utterances"):
        ds = read_iemocap(root)
    assert len(ds) == 32 and {u.split for u in ds.utterances} == {"train"}
    assert not (root / "Session5").exists() and set(raw) >= {u.id for u in ds.utterances}


def test_iemocap_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="root"):
        read_iemocap(tmp_path / "nowhere", check_counts=False)
    (tmp_path / "empty" / "Session6").mkdir(parents=True)
    (tmp_path / "empty" / "Session1.zip").touch()
    with pytest.raises(FileNotFoundError, match="Session"):
        read_iemocap(tmp_path / "empty", check_counts=False)
    root, _ = small_iemocap(tmp_path)
    shutil.rmtree(root / "Session2" / "dialog" / "EmoEvaluation")
    with pytest.raises(FileNotFoundError, match="EmoEvaluation"):
        read_iemocap(root, check_counts=False)


BAD_LINES: dict[str, tuple[Callable[[str], str], str]] = {
    "spaces for tabs": (lambda line: line.replace("\t", " "), "malformed annotation line"),
    "no VAD": (lambda line: line.rsplit("\t", 1)[0], "malformed annotation line"),
    "bad time": (lambda line: "[abc - " + line.split(" - ", 1)[1], "malformed annotation line"),
    "unknown label": (lambda line: line.replace("\tneu\t", "\tjoy\t"), "unknown label 'joy'"),
    "bad utterance id": (lambda line: line.replace("_M003", "_Q003"), "malformed utterance id"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_iemocap_bad_annotation_names_file_and_line(tmp_path: Path, case: str) -> None:
    root, raw = small_iemocap(tmp_path)
    uid = "Ses02M_impro01_M003"
    assert raw[uid] == "neu"
    file = annotation_file(root, uid)
    lines = file.read_text().split("\n")
    index = next(i for i, line in enumerate(lines) if f"\t{uid}\t" in line)
    assert index > 30  # deep in the file, after header and annotator lines
    corrupt, message = BAD_LINES[case]
    lines[index] = corrupt(lines[index])
    file.write_text("\n".join(lines))
    with pytest.raises(DatasetFormatError, match=message) as err:
        read_iemocap(root, check_counts=False)
    error_at(err, file, index + 1)


# --- CH-SIMS ------------------------------------------------------------------------------

CHSIMS_SECONDS = 1.0


@pytest.fixture(scope="module")
def chsims(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]], Path]:
    base = tmp_path_factory.mktemp("chsims")
    root, wavs = base / "SIMS", base / "wav16k"
    return root, fx.make_chsims(root, seconds=CHSIMS_SECONDS, wav_dir=wavs), wavs


def test_chsims_labels_from_audio_annotation(
    chsims: tuple[Path, list[dict[str, str]], Path],
) -> None:
    root, rows, _ = chsims
    ds = read_chsims(root)
    assert ds.name == "CH-SIMS" and ds.classes == SENTIMENT_NAMES
    assert [u.id for u in ds.utterances] == [f"{r['video_id']}/{r['clip_id']}" for r in rows]
    split = {"train": "train", "valid": "val", "test": "test"}
    for u, row in zip(ds.utterances, rows):
        assert u.score == float(row["label_A"])
        assert ds.classes[u.label] == sentiment(float(row["label_A"])), row
        assert u.split == split[row["mode"]]
        assert u.audio == root / "Raw" / row["video_id"] / f"{row['clip_id']}.mp4"
        assert u.speaker is None
    assert {u.split for u in ds.utterances} == {"train", "val", "test"}
    assert ds.skipped == [] and ds.excluded == {}
    # the boundaries -0.1 and 0.1 are in the fixture and are neutral
    boundary = [u for u in ds.utterances if abs(abs(u.score or 0.0) - 0.1) < 1e-9]
    assert {u.score for u in boundary} == {-0.1, 0.1}
    assert all(ds.classes[u.label] == "neutral" for u in boundary)


def test_chsims_multimodal_annotation(chsims: tuple[Path, list[dict[str, str]], Path]) -> None:
    root, rows, _ = chsims
    audio_only, multimodal = read_chsims(root), read_chsims(root, annotation="label")
    for u, row in zip(multimodal.utterances, rows):
        assert u.score == float(row["label"])
        assert multimodal.classes[u.label] == sentiment(float(row["label"]))
    differ = [a.label != m.label for a, m in zip(audio_only.utterances, multimodal.utterances)]
    assert sum(differ) >= 6  # the fixture makes the two annotations disagree


@pytest.mark.parametrize(
    ("score", "name"),
    [
        ("-1", "negative"),
        ("-0.11", "negative"),
        ("-0.1", "neutral"),
        ("-0.0", "neutral"),
        ("0.1", "neutral"),
        ("0.1000001", "neutral"),
        ("0.10001", "positive"),
        ("1.0", "positive"),
    ],
)
def test_chsims_sentiment_boundaries(tmp_path: Path, score: str, name: str) -> None:
    write_label_csv(tmp_path, [f"v1,0001,text,0.0,0.0,{score},0.0,Neutral,test"])
    ds = read_chsims(tmp_path)
    assert ds.classes[ds.utterances[0].label] == name


def test_chsims_audio_dir(chsims: tuple[Path, list[dict[str, str]], Path]) -> None:
    root, rows, wavs = chsims
    ds = read_chsims(root, audio_dir=wavs)
    assert [u.audio for u in ds.utterances] == [
        wavs / r["video_id"] / f"{r['clip_id']}.wav" for r in rows
    ]
    assert [u.label for u in ds.utterances] == [u.label for u in read_chsims(root).utterances]


def test_chsims_mp4_audio_is_the_tone_written(
    chsims: tuple[Path, list[dict[str, str]], Path],
) -> None:
    root, rows, _ = chsims
    ds = read_chsims(root)
    for i, (u, row) in enumerate(zip(ds.utterances, rows)):
        pitch = 150.0 + 150.0 * (float(row["label_A"]) + 1)  # the builder's tone
        written = fx.tone(CHSIMS_SECONDS, pitch, i)
        wav = load_audio(u.audio).numpy()
        assert wav.dtype == np.float32 and wav.ndim == 1
        assert abs(wav.size - written.size) <= 0.03 * written.size, (wav.size, written.size)
        peak = np.argmax(np.abs(np.fft.rfft(wav))) * fx.RATE / wav.size
        assert abs(peak - pitch) < 3.0, (peak, pitch)
        n = min(wav.size, written.size) - 200
        assert np.corrcoef(wav[:n], written[:n])[0, 1] > 0.99  # in time, not delayed


def write_label_csv(root: Path, rows: list[str], header: str = fx.CHSIMS_HEADER) -> Path:
    """A label.csv with these rows, and an (empty) mp4 placeholder for each row's clip."""
    root.mkdir(parents=True, exist_ok=True)
    for row in rows:
        cells = row.split(",")
        if len(cells) >= 2 and cells[0] and cells[1]:
            clip = root / "Raw" / cells[0] / f"{cells[1]}.mp4"
            clip.parent.mkdir(parents=True, exist_ok=True)
            clip.touch()
    table = root / "label.csv"
    table.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return table


GOOD_ROW = "v1,0001,好,0.2,0.0,-0.4,0.0,Negative,train"


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("v1,0003,x,0.0,0.0,abc,0.0,Neutral,train", "label_A must be a number"),
        ("v1,0003,x,0.0,0.0,,0.0,Neutral,train", "label_A must be a number"),
        ("v1,0003,x,0.0,0.0,1.5,0.0,Neutral,train", "in \\[-1, 1\\]"),
        ("v1,0003,x,0.0,0.0,-1.2,0.0,Neutral,train", "in \\[-1, 1\\]"),
        ("v1,0003,x,0.0,0.0,nan,0.0,Neutral,train", "label_A must be a number"),
        ("v1,0003,x,0.0,0.0,inf,0.0,Neutral,train", "label_A must be a number"),
        ("v1,0003,x,0.0,0.0,0.3,0.0,Neutral,dev", "unknown mode 'dev'"),
        ("v1,0003,x,0.0,0.0,0.3,0.0,Neutral,val", "unknown mode 'val'"),
        ("v1,0003,x,0.0,0.0,0.3", "expected 9 fields"),
        (",0003,x,0.0,0.0,0.3,0.0,Neutral,train", "empty video_id"),
    ],
)
def test_chsims_bad_row_names_file_and_line(tmp_path: Path, bad: str, match: str) -> None:
    # header (1), two rows (2, 3), a blank line (4), the bad row (5)
    table = write_label_csv(tmp_path, [GOOD_ROW, GOOD_ROW.replace("0001", "0002"), "", bad])
    with pytest.raises(DatasetFormatError, match=match) as err:
        read_chsims(tmp_path)
    error_at(err, table, 5)


def test_chsims_missing_column(tmp_path: Path) -> None:
    header = fx.CHSIMS_HEADER.replace(",label_A", ",label_audio")
    table = write_label_csv(tmp_path, [GOOD_ROW], header=header)
    with pytest.raises(DatasetFormatError, match="label_A") as err:
        read_chsims(tmp_path)
    error_at(err, table, 1)
    assert read_chsims(tmp_path, annotation="label").utterances[0].score == 0.2
    write_label_csv(tmp_path, ["v1,0001,0.2"], header="video_id,clip_id,label_A")
    with pytest.raises(DatasetFormatError, match="mode") as err:
        read_chsims(tmp_path)
    error_at(err, table, 1)


def test_chsims_bom_and_quoted_text(tmp_path: Path) -> None:
    table = write_label_csv(
        tmp_path, ['v1,0001,"一句话, 还有逗号",0.2,0.0,-0.4,0.0,Negative,valid']
    )
    table.write_bytes(b"\xef\xbb\xbf" + table.read_bytes())
    (u,) = read_chsims(tmp_path).utterances
    assert (u.id, u.score, u.split, SENTIMENT_NAMES[u.label]) == (
        "v1/0001",
        -0.4,
        "val",
        "negative",
    )


def test_chsims_missing_clip_and_duplicate_are_skipped(tmp_path: Path) -> None:
    table = write_label_csv(
        tmp_path, [GOOD_ROW, GOOD_ROW.replace("0001", "0002"), GOOD_ROW.replace("0001", "0003")]
    )
    gone = tmp_path / "Raw" / "v1" / "0002.mp4"
    gone.unlink()
    with table.open("a", encoding="utf-8") as handle:
        handle.write(GOOD_ROW + "\n")  # line 5
    ds = read_chsims(tmp_path)
    assert [u.id for u in ds.utterances] == ["v1/0001", "v1/0003"]
    assert ds.skipped == [
        Skipped(gone, "audio file missing"),
        Skipped(table, "line 5: duplicate clip v1/0001"),
    ]


def test_chsims_missing_files_and_bad_annotation(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="root"):
        read_chsims(tmp_path / "nowhere")
    (tmp_path / "Raw").mkdir()
    with pytest.raises(FileNotFoundError, match=r"label\.csv"):
        read_chsims(tmp_path)
    write_label_csv(tmp_path, [GOOD_ROW])
    with pytest.raises(FileNotFoundError, match="audio folder"):
        read_chsims(tmp_path, audio_dir=tmp_path / "wav")
    for annotation in ("label_X", "A", ""):
        with pytest.raises(ValueError, match="annotation"):
            read_chsims(tmp_path, annotation=annotation)


# --- manifests ----------------------------------------------------------------------------

ALL_KINDS = ("faces_dir", "face_probs", "faces_video", "face_logits")
COLUMN = {
    "faces_dir": "faces",
    "faces_video": "faces",
    "face_probs": "face_probs",
    "face_logits": "face_logits",
}


def test_manifest_csv_and_jsonl_agree(tmp_path: Path) -> None:
    csv = fx.build_manifest(tmp_path, ALL_KINDS, clips=8, seconds=0.3)
    jsonl = fx.build_manifest(tmp_path, ALL_KINDS, clips=8, seconds=0.3, fmt="jsonl")
    a, b = read_manifest(csv.path), read_manifest(jsonl.path)
    assert a.clips == b.clips
    assert a.skipped == b.skipped == []
    assert [c.id for c in a.clips] == [f"clip{i:04d}" for i in range(8)]
    for clip in a.clips:
        kind = csv.kinds[clip.id]
        assert clip.visual_kind == COLUMN[kind]
        assert clip.audio == tmp_path / "wav" / f"{clip.id}.wav"
        want = {
            "faces_dir": tmp_path / "faces" / clip.id,
            "faces_video": tmp_path / "video" / f"{clip.id}.mp4",
        }.get(kind, tmp_path / "teacher" / f"{clip.id}.npy")
        assert clip.visual == want
        assert clip.fps == 25.0
    assert (
        a.summary()
        .splitlines()[0]
        .endswith("8 unlabelled clips (4 faces, 2 face_probs, 2 face_logits)")
    )


def test_manifest_paths_resolve_against_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    fx.write_wav(data / "wav" / "a.wav", fx.tone(0.05, 200.0, 0))
    np.save(data / "teacher.npy", np.zeros((3, 7), np.float32))
    absolute = fx.write_wav(tmp_path / "elsewhere" / "b.wav", fx.tone(0.05, 200.0, 1))
    manifest = data / "lists" / "train.csv"
    manifest.parent.mkdir()
    manifest.write_text(
        "id,audio,face_logits,fps\n"
        "a,../wav/a.wav,../teacher.npy,30\n"
        f"b,{absolute},../teacher.npy,12.5\n"
    )
    monkeypatch.chdir(tmp_path / "elsewhere")  # not where the paths start from
    m = read_manifest(os.path.relpath(manifest))
    assert m.skipped == []
    assert [(c.audio.resolve(), c.visual.resolve(), c.fps) for c in m.clips] == [
        ((data / "wav" / "a.wav").resolve(), (data / "teacher.npy").resolve(), 30.0),
        (absolute.resolve(), (data / "teacher.npy").resolve(), 12.5),
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_manifest_missing_files_are_skipped(tmp_path: Path, fmt: str) -> None:
    fx.write_wav(tmp_path / "a.wav", fx.tone(0.05, 200.0, 0))
    np.save(tmp_path / "p.npy", np.zeros((3, 7), np.float32))
    (tmp_path / "faces" / "a").mkdir(parents=True)
    rows = [
        {"id": "ok1", "audio": "a.wav", "face_probs": "p.npy"},
        {"id": "no_audio", "audio": "gone.wav", "face_probs": "p.npy"},
        {"id": "no_faces", "audio": "a.wav", "faces": "faces/b"},
        {"id": "no_npy", "audio": "a.wav", "face_logits": "q.npy", "fps": 25},
        {"id": "ok2", "audio": "a.wav", "faces": "faces/a"},
    ]
    path = write_manifest(tmp_path, rows, fmt)
    m = read_manifest(path)
    assert [c.id for c in m.clips] == ["ok1", "ok2"]
    first = 2 if fmt == "csv" else 1  # the CSV header is line 1
    assert m.skipped == [
        Skipped(tmp_path / "gone.wav", f"line {first + 1}: audio file missing"),
        Skipped(tmp_path / "faces" / "b", f"line {first + 2}: faces missing"),
        Skipped(tmp_path / "q.npy", f"line {first + 3}: face_logits missing"),
    ]
    assert "skipped 3 row(s):" in m.summary()


def write_manifest(folder: Path, rows: list[dict[str, object]], fmt: str) -> Path:
    columns = ["id", "audio", "faces", "face_probs", "face_logits", "fps"]
    if fmt == "csv":
        text = ",".join(columns) + "\n"
        text += "".join(",".join(str(r.get(c, "")) for c in columns) + "\n" for r in rows)
    else:
        text = "".join(json.dumps(r) + "\n" for r in rows)
    path = folder / f"manifest.{fmt}"
    path.write_text(text)
    return path


CSV_HEAD = "id,audio,faces,face_probs,face_logits,fps"
CSV_GOOD = "c0,c0.wav,,c0.npy,,25"


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("c1,c1.wav,,,,25", "exactly one of faces, face_probs, face_logits, got none"),
        ("c1,c1.wav,f/c1,c1.npy,,", "got faces, face_probs"),
        ("c1,c1.wav,,c1.npy,c1.npy,", "got face_probs, face_logits"),
        ("c1,c1.wav,,c1.npy,,0", "fps must be a number > 0, got '0'"),
        ("c1,c1.wav,,c1.npy,,-25", "fps must be a number > 0"),
        ("c1,c1.wav,,c1.npy,,abc", "fps must be a number > 0, got 'abc'"),
        ("c1,c1.wav,,c1.npy,,nan", "fps must be a number > 0"),
        ("c1,c1.wav,,c1.npy,,inf", "fps must be a number > 0"),
        ("c0,c1.wav,,c1.npy,,25", "clip id 'c0' appears twice"),
        (",c1.wav,,c1.npy,,25", "needs an `id`"),
        ("c1,,,c1.npy,,25", "needs an `id` and an `audio`"),
        ("c1,c1.wav,,c1.npy,,25,extra", "more fields than the header"),
    ],
)
def test_manifest_csv_errors_name_the_line(tmp_path: Path, bad: str, match: str) -> None:
    path = tmp_path / "m.csv"
    # header (1), good row (2), blank (3), good row (4), bad row (5)
    path.write_text("\n".join([CSV_HEAD, CSV_GOOD, "", CSV_GOOD.replace("c0", "c9"), bad]) + "\n")
    with pytest.raises(DatasetFormatError, match=match) as err:
        read_manifest(path)
    error_at(err, path, 5)


JSON_GOOD = '{"id": "c0", "audio": "c0.wav", "face_probs": "c0.npy", "fps": 25}'


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ('{"id": "c1", "audio": "c1.wav", "face_probs": "c1.npy"', "invalid JSON"),
        ("not json", "invalid JSON"),
        ('["c1", "c1.wav"]', "expected a JSON object"),
        ('{"audio": "c1.wav", "face_probs": "c1.npy"}', "needs an `id`"),
        ('{"id": null, "audio": "c1.wav", "face_probs": "c1.npy"}', "needs an `id`"),
        ('{"id": "c1", "face_probs": "c1.npy"}', "`audio`"),
        ('{"id": "c1", "audio": "c1.wav"}', "got none"),
        ('{"id": "c1", "audio": "c1.wav", "faces": "f", "face_logits": "l.npy"}', "got faces"),
        ('{"id": "c1", "audio": "c1.wav", "faces": "f", "fps": 0}', "fps must be"),
        ('{"id": "c1", "audio": "c1.wav", "faces": "f", "fps": "x"}', "fps must be"),
        ('{"id": "c0", "audio": "c1.wav", "faces": "f"}', "appears twice"),
    ],
)
def test_manifest_jsonl_errors_name_the_line(tmp_path: Path, bad: str, match: str) -> None:
    path = tmp_path / "m.jsonl"
    # good (1), blank (2), good (3), bad (4)
    path.write_text("\n".join([JSON_GOOD, "", JSON_GOOD.replace("c0", "c9"), bad]) + "\n")
    with pytest.raises(DatasetFormatError, match=match) as err:
        read_manifest(path)
    error_at(err, path, 4)


def test_manifest_suffix_and_missing_file(tmp_path: Path) -> None:
    for name in ("m.txt", "m.json", "m.tsv", "m"):
        (tmp_path / name).write_text(CSV_HEAD + "\n" + CSV_GOOD + "\n")
        with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
            read_manifest(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="Manifest not found"):
        read_manifest(tmp_path / "missing.csv")


# --- expression_probabilities -------------------------------------------------------------


def npy_reference(clip: UnlabelledClip, interval: float = 0.24) -> tuple[np.ndarray, int]:
    """Pooled distribution and face-frame count of a .npy clip, computed naively."""
    array = np.load(clip.visual).astype(np.float64)
    rows = array[sampled_frames(len(array), clip.fps, interval)]
    rows = rows[~np.isnan(rows).any(axis=1)]
    if len(rows) == 0:
        return np.zeros(EXPRESSION_COUNT), 0
    if clip.visual_kind == "face_logits":
        rows = softmax(rows)
    return pooled(rows), len(rows)


@pytest.mark.parametrize(
    ("fps", "nan_frames", "interval"),
    [(25, (1, 6), 0.24), (30, (7, 14, 20), 0.24), (25, (0, 3), 0.1), (10, (0,), 0.5)],
)
def test_npy_evidence_matches_naive_reference(
    tmp_path: Path, fps: int, nan_frames: tuple[int, ...], interval: float
) -> None:
    built = fx.build_manifest(
        tmp_path, ("face_probs", "face_logits"), clips=4, fps=fps, nan_frames=nan_frames
    )
    clips = read_manifest(built.path).clips
    assert [c.fps for c in clips] == [fps] * 4
    done: list[int] = []
    ev = expression_probabilities(clips, interval=interval, progress=done.append)
    assert ev.probs.shape == (4, EXPRESSION_COUNT) and ev.probs.dtype == torch.float32
    assert ev.skipped == [] and done == [1, 1, 1, 1]
    for i, clip in enumerate(clips):
        want, count = npy_reference(clip, interval)
        np.testing.assert_allclose(ev.probs[i].numpy(), want, atol=1e-5)
        assert bool(ev.has_face[i]) and int(ev.frames[i]) == count
        # the sampled frames without a face were left out (not read as zeros)
        sampled = sampled_frames(fps, fps, interval)
        assert set(sampled) & set(nan_frames)
        assert count == len(set(sampled) - set(nan_frames))


def test_npy_clip_without_a_face_in_any_sampled_frame(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    array = rng.normal(0, 2, (25, 7)).astype(np.float32)
    array[sampled_frames(25, 25.0)] = np.nan  # the frames in between have faces, unsampled
    np.save(tmp_path / "none.npy", array)
    np.save(tmp_path / "some.npy", rng.normal(0, 2, (25, 7)).astype(np.float32))
    audio = fx.write_wav(tmp_path / "a.wav", fx.tone(0.05, 200.0, 0))
    clips = [
        UnlabelledClip("none", audio, tmp_path / "none.npy", "face_logits"),
        UnlabelledClip("some", audio, tmp_path / "some.npy", "face_logits"),
    ]
    ev = expression_probabilities(clips)
    assert ev.has_face.tolist() == [False, True] and ev.frames.tolist() == [0, 5]
    assert torch.equal(ev.probs[0], torch.zeros(EXPRESSION_COUNT))
    np.testing.assert_allclose(ev.probs[1].numpy(), npy_reference(clips[1])[0], atol=1e-5)
    assert ev.skipped == []
    assert not torch.isnan(ev.probs).any()


class BrightnessFaceModel(nn.Module):
    """A stub face model: the crop's brightness encodes its expression (``face_image``)."""

    scale = 8.0

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []
        self.training_flags: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        self.shapes.append(tuple(x.shape))
        self.training_flags.append(self.training)
        level = x.mean(dim=(1, 2, 3)) * 255
        expression = ((level - 20) / 30).round().clamp(0, EXPRESSION_COUNT - 1).long()
        return nn.functional.one_hot(expression, EXPRESSION_COUNT).float() * self.scale


def faces_reference(expressions: np.ndarray, fps: float) -> tuple[np.ndarray, int]:
    shown = expressions[sampled_frames(len(expressions), fps)]
    logits = np.eye(EXPRESSION_COUNT)[shown] * BrightnessFaceModel.scale
    return pooled(softmax(logits)), len(shown)


@pytest.mark.parametrize("fps", [25, 20])
def test_face_crops_scored_by_the_face_model(tmp_path: Path, fps: int) -> None:
    built = fx.build_manifest(tmp_path, ("faces_dir", "faces_video"), clips=4, fps=fps)
    clips = read_manifest(built.path).clips
    model = BrightnessFaceModel().train()
    ev = expression_probabilities(clips, model)
    assert ev.skipped == [] and ev.has_face.all()
    assert model.training_flags == [False] * 4  # used in eval mode
    for i, clip in enumerate(clips):
        # the folder's frames are frame_0 ... frame_24: in frame order, not name order
        want, count = faces_reference(built.expressions[clip.id], fps)
        np.testing.assert_allclose(ev.probs[i].numpy(), want, atol=1e-5, err_msg=clip.id)
        assert int(ev.frames[i]) == count
    assert model.shapes[0] == (len(sampled_frames(fps, fps)), 3, 16, 16)


def test_face_crops_resized_and_grey(tmp_path: Path) -> None:
    built = fx.build_manifest(tmp_path, ("faces_dir", "faces_video"), clips=2)
    clips = read_manifest(built.path).clips
    model = BrightnessFaceModel()
    ev = expression_probabilities(clips, model, image_size=(8, 12), channels=1)
    assert {s[1:] for s in model.shapes} == {(1, 8, 12)}
    for i, clip in enumerate(clips):
        want, _ = faces_reference(built.expressions[clip.id], 25)
        np.testing.assert_allclose(ev.probs[i].numpy(), want, atol=1e-5)
    expression_probabilities(clips[:1], model, image_size=4)
    assert model.shapes[-1][1:] == (3, 4, 4)


def test_unreadable_visual_evidence_is_skipped(tmp_path: Path) -> None:
    built = fx.build_manifest(tmp_path, ("face_probs", "faces_dir", "face_logits"), clips=6)
    clips = read_manifest(built.path).clips
    bad = {0, 1, 5}
    clips[0].visual.write_bytes(b"\x93NUMPY garbage")  # corrupt .npy
    (clips[1].visual / "frame_0.png").write_bytes(os.urandom(64))  # corrupt sampled crop
    np.save(clips[5].visual, np.zeros((25, 5), np.float32))  # wrong shape
    done: list[int] = []
    model = BrightnessFaceModel()
    ev = expression_probabilities(clips, model, progress=done.append)
    assert sum(done) == len(clips)
    assert [s.path for s in ev.skipped] == [clips[i].visual for i in sorted(bad)]
    assert all("unreadable" in s.reason for s in ev.skipped)
    good = [i for i in range(len(clips)) if i not in bad]
    alone = expression_probabilities([clips[i] for i in good], model)
    for row, i in enumerate(good):
        assert torch.equal(ev.probs[i], alone.probs[row])
        assert bool(ev.has_face[i]) and ev.frames[i] == alone.frames[row]
    for i in bad:
        assert not ev.has_face[i] and ev.frames[i] == 0
        assert torch.equal(ev.probs[i], torch.zeros(EXPRESSION_COUNT))


@pytest.mark.parametrize("case", ["float16", "unnormalised"])
def test_face_probs_with_bad_row_sums_do_not_stop_the_loop(tmp_path: Path, case: str) -> None:
    rng = np.random.default_rng(0)
    good = softmax(rng.normal(0, 2, (25, 7))).astype(np.float32)
    bad = good.astype(np.float16) if case == "float16" else np.full((25, 7), 0.5, np.float32)
    np.save(tmp_path / "bad.npy", bad)
    np.save(tmp_path / "good.npy", good)
    audio = fx.write_wav(tmp_path / "a.wav", fx.tone(0.05, 200.0, 0))
    clips = [
        UnlabelledClip("bad", audio, tmp_path / "bad.npy", "face_probs"),
        UnlabelledClip("good", audio, tmp_path / "good.npy", "face_probs"),
    ]
    ev = expression_probabilities(clips)
    np.testing.assert_allclose(ev.probs[1].numpy(), npy_reference(clips[1])[0], atol=1e-5)
    assert bool(ev.has_face[0]) or [s.path for s in ev.skipped] == [tmp_path / "bad.npy"]


def test_faces_need_a_face_model(tmp_path: Path) -> None:
    built = fx.build_manifest(tmp_path, ("face_probs", "faces_dir"), clips=2)
    clips = read_manifest(built.path).clips
    with pytest.raises(ValueError, match="face_model"):
        expression_probabilities(clips)
    assert expression_probabilities(clips[:1]).has_face.tolist() == [True]
    empty = expression_probabilities([])
    assert empty.probs.shape == (0, EXPRESSION_COUNT) and empty.skipped == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"interval": 0}, "interval"),
        ({"interval": -0.24}, "interval"),
        ({"interval": math.nan}, "interval"),
        ({"interval": "0.24"}, "interval"),
        ({"image_size": 0}, "image_size"),
        ({"image_size": (0, 16)}, "image_size"),
        ({"image_size": (16, -1)}, "image_size"),
        ({"channels": 2}, "channels"),
        ({"channels": 0}, "channels"),
    ],
)
def test_expression_probabilities_bad_arguments(
    tmp_path: Path, kwargs: dict[str, object], match: str
) -> None:
    np.save(tmp_path / "p.npy", np.full((5, 7), 1 / 7, np.float32))
    clip = UnlabelledClip("a", tmp_path / "a.wav", tmp_path / "p.npy", "face_probs")
    # a wrong Python type is a TypeError, a bad value a ValueError (the library's convention)
    with pytest.raises((ValueError, TypeError), match=match):
        expression_probabilities([clip], BrightnessFaceModel(), **kwargs)


@pytest.mark.parametrize("interval", [math.inf, True])
def test_expression_probabilities_rejects_non_finite_interval(
    tmp_path: Path, interval: float
) -> None:
    np.save(tmp_path / "p.npy", np.full((5, 7), 1 / 7, np.float32))
    clip = UnlabelledClip("a", tmp_path / "a.wav", tmp_path / "p.npy", "face_probs")
    with pytest.raises((ValueError, TypeError), match="interval"):
        expression_probabilities([clip], interval=interval)


@pytest.mark.parametrize("image_size", [1.5, (8, 8, 8)])
def test_expression_probabilities_rejects_malformed_image_size(
    tmp_path: Path, image_size: object
) -> None:
    np.save(tmp_path / "p.npy", np.full((5, 7), 1 / 7, np.float32))
    clip = UnlabelledClip("a", tmp_path / "a.wav", tmp_path / "p.npy", "face_probs")
    with pytest.raises(ValueError, match="image_size"):
        expression_probabilities([clip], image_size=image_size)


# --- extract_features ---------------------------------------------------------------------


class Counting(nn.Module):
    """Wraps an extractor, records every call's batch size; can raise KeyboardInterrupt."""

    def __init__(self, inner: nn.Module, interrupt_on_call: int | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.interrupt_on_call = interrupt_on_call
        self.batches: list[int] = []

    def forward(self, waveforms: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        self.batches.append(int(waveforms.shape[0]))
        if len(self.batches) == self.interrupt_on_call:
            raise KeyboardInterrupt
        return self.inner(waveforms, lengths)


class Projected(nn.Module):
    """Spectrogram features through a small linear layer (an extractor with weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.spectrogram = SpectrogramFeatures()
        self.proj = nn.Linear(512, 8)

    def forward(self, waveforms: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x, n = self.spectrogram(waveforms, lengths)
        return self.proj(x) * (torch.arange(x.shape[1]) < n[:, None])[..., None], n


MAX_FRAMES = 16
SECONDS = (0.05, 0.25, 0.1, 0.3, 0.02, 0.15)  # 6 to 31 STFT frames: padded and trimmed


def write_clips(folder: Path, seconds: Sequence[float] = SECONDS) -> list[Path]:
    return [
        fx.write_wav(folder / f"clip{i}.wav", fx.tone(s, 150.0 + 50 * i, i))
        for i, s in enumerate(seconds)
    ]


def direct(
    extractor: nn.Module, file: Path, max_frames: int = MAX_FRAMES
) -> tuple[np.ndarray, int]:
    """The extractor run on the file alone, then fix_length."""
    data, rate = soundfile.read(str(file), dtype="float32")
    assert rate == 16_000
    wav = torch.from_numpy(data)[None]
    with torch.no_grad():
        feats, frames = extractor(wav, torch.tensor([wav.shape[1]]))
        feats, frames = fix_length(feats, max_frames, lengths=frames)
    return feats[0].numpy(), int(frames[0])


def assert_rows_match(fs_features: np.ndarray, row: int, want: np.ndarray) -> None:
    np.testing.assert_allclose(fs_features[row].astype(np.float32), want, rtol=2e-3, atol=2e-3)


def test_extract_rows_equal_direct_extraction(tmp_path: Path) -> None:
    files = write_clips(tmp_path / "wav")
    extractor = SpectrogramFeatures()
    done: list[int] = []
    fs = extract_features(
        files,
        extractor,
        tmp_path / "cache",
        max_frames=MAX_FRAMES,
        batch_size=4,
        progress=done.append,
    )
    assert done == [4, 2]
    assert fs.features.shape == (6, MAX_FRAMES, 512) and fs.features.dtype == np.float16
    assert fs.ok.tolist() == [True] * 6 and fs.skipped == [] and len(fs) == 6
    for i, file in enumerate(files):
        want, frames = direct(extractor, file)
        assert fs.lengths[i] == frames == min(MAX_FRAMES, 1 + round(SECONDS[i] * 16_000) // 160)
        assert_rows_match(fs.features, i, want)
        assert not fs.features[i, frames:].any()
    assert fs.lengths.tolist() == [6, 16, 11, 16, 3, 16]


def test_extract_features_is_memory_mapped(tmp_path: Path) -> None:
    files = write_clips(tmp_path / "wav", SECONDS[:3])
    fs = extract_features(files, SpectrogramFeatures(), tmp_path / "cache", max_frames=MAX_FRAMES)
    assert isinstance(fs.features, np.memmap)
    on_disk = np.load(fs.path / "features.npy", mmap_mode="r")
    assert isinstance(on_disk, np.memmap) and on_disk.shape == (3, MAX_FRAMES, 512)
    assert np.array_equal(on_disk, fs.features)
    assert np.array_equal(np.load(fs.path / "lengths.npy"), fs.lengths)
    assert np.array_equal(np.load(fs.path / "ok.npy"), fs.ok)
    meta = json.loads((fs.path / "meta.json").read_text())
    assert meta["max_frames"] == MAX_FRAMES and meta["files"] == 3 and meta["dim"] == 512
    assert fs.path.parent == tmp_path / "cache"
    assert not list((tmp_path / "cache").glob("*.partial"))
    x, n = fs.tensors([2, 0])
    assert x.shape == (2, MAX_FRAMES, 512) and x.dtype == torch.float16
    assert n.tolist() == [fs.lengths[2], fs.lengths[0]]
    assert torch.equal(x[1], torch.from_numpy(np.array(fs.features[0])))


def test_extract_bad_files_are_skipped(tmp_path: Path) -> None:
    torch.manual_seed(0)
    extractor = Wav2VecFeatures(random_init=True)
    folder = tmp_path / "wav"
    good = [
        fx.write_wav(folder / "good0.wav", fx.tone(0.15, 200.0, 0)),
        fx.write_wav(folder / "good1.wav", fx.tone(0.3, 300.0, 1)),
        fx.write_wav(folder / "good2.wav", fx.tone(0.05, 400.0, 2)),
    ]
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage" + bytes(range(200)))
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    no_samples = fx.write_wav(folder / "no_samples.wav", np.zeros(0, np.float32))
    short = fx.write_wav(folder / "short.wav", fx.tone(100 / 16_000, 200.0, 3))
    assert soundfile.info(str(short)).frames == 100
    missing = folder / "missing.wav"
    files = [good[0], corrupt, empty, good[1], no_samples, short, missing, good[2]]
    done: list[int] = []
    fs = extract_features(
        files, extractor, tmp_path / "cache", max_frames=8, batch_size=3, progress=done.append
    )
    assert sum(done) == len(files)
    reasons = {s.path: s.reason for s in fs.skipped}
    assert set(reasons) == {corrupt, empty, no_samples, short, missing}
    assert reasons[corrupt].startswith("unreadable")
    assert reasons[empty].startswith(("unreadable", "empty"))
    assert reasons[no_samples].startswith("empty")
    assert reasons[short].startswith("too short") and "100 samples" in reasons[short]
    assert reasons[missing].startswith("unreadable")
    bad = [files.index(p) for p in reasons]
    assert fs.ok.tolist() == [i not in bad for i in range(len(files))]
    for i in bad:
        assert fs.lengths[i] == 0 and not fs.features[i].any()
    for file in good:
        want, frames = direct(extractor, file, max_frames=8)
        i = files.index(file)
        samples = soundfile.info(str(file)).frames
        assert fs.lengths[i] == frames == min(8, (samples - 400) // 320 + 1)
        assert_rows_match(fs.features, i, want)


def test_extract_second_call_reads_the_cache(tmp_path: Path) -> None:
    files = write_clips(tmp_path / "wav")
    first = Counting(SpectrogramFeatures())
    a = extract_features(files, first, tmp_path / "cache", max_frames=MAX_FRAMES, batch_size=4)
    assert sum(first.batches[1:]) == len(files)  # the first call probes the feature size
    second = Counting(SpectrogramFeatures())
    done: list[int] = []
    b = extract_features(
        files, second, tmp_path / "cache", max_frames=MAX_FRAMES, batch_size=2, progress=done.append
    )
    assert second.batches == []  # not run at all
    assert done == [len(files)]
    assert b.path == a.path
    assert np.array_equal(a.features, b.features)
    assert np.array_equal(a.lengths, b.lengths) and np.array_equal(a.ok, b.ok)
    assert a.skipped == b.skipped


@pytest.mark.parametrize("change", ["longer", "same size, later"])
def test_extract_changed_file_gets_a_new_key(tmp_path: Path, change: str) -> None:
    files = write_clips(tmp_path / "wav")
    extractor = SpectrogramFeatures()
    a = extract_features(files, Counting(extractor), tmp_path / "cache", max_frames=MAX_FRAMES)
    before = np.array(a.features)
    stat = files[2].stat()
    seconds = SECONDS[2] * (2 if change == "longer" else 1)
    fx.write_wav(files[2], fx.tone(seconds, 700.0, 99))
    if change != "longer":
        assert files[2].stat().st_size == stat.st_size
        later = stat.st_mtime_ns + 1_000_000_000  # a rewrite later on, whatever the clock's grain
        os.utime(files[2], ns=(later, later))
    counting = Counting(extractor)
    b = extract_features(files, counting, tmp_path / "cache", max_frames=MAX_FRAMES)
    assert b.path != a.path and a.path.is_dir()
    assert sum(counting.batches[1:]) == len(files)
    want, frames = direct(extractor, files[2])
    assert b.lengths[2] == frames
    assert_rows_match(b.features, 2, want)
    assert not np.allclose(b.features[2], before[2], atol=0.1)
    others = [0, 1, 3, 4, 5]
    assert np.array_equal(b.features[others], before[others])


def test_extract_changed_weights_or_settings_get_new_keys(tmp_path: Path) -> None:
    files = write_clips(tmp_path / "wav", SECONDS[:3])
    torch.manual_seed(0)
    extractor = Projected()
    a = extract_features(files, extractor, tmp_path / "cache", max_frames=MAX_FRAMES)
    assert a.features.shape == (3, MAX_FRAMES, 8)
    with torch.no_grad():
        extractor.proj.weight.mul_(-2.0)
    b = extract_features(files, extractor, tmp_path / "cache", max_frames=MAX_FRAMES)
    assert b.path != a.path
    for i, file in enumerate(files):
        assert_rows_match(b.features, i, direct(extractor, file)[0])
    assert not np.allclose(a.features, b.features, atol=0.1)
    paths = {a.path, b.path}
    for kwargs in ({"max_frames": 12}, {"max_frames": MAX_FRAMES, "settings": {"cmvn": True}}):
        c = extract_features(files, extractor, tmp_path / "cache", **kwargs)
        assert c.path not in paths
        paths.add(c.path)
    d = extract_features(
        files, SpectrogramFeatures(log=True), tmp_path / "cache", max_frames=MAX_FRAMES
    )
    e = extract_features(
        files, SpectrogramFeatures(log=False), tmp_path / "cache", max_frames=MAX_FRAMES
    )
    assert len(paths | {d.path, e.path}) == len(paths) + 2


def test_extract_key_includes_wrapped_extractor_settings(tmp_path: Path) -> None:
    files = write_clips(tmp_path / "wav", SECONDS[:2])
    plain = extract_features(
        files, Counting(SpectrogramFeatures(log=False)), tmp_path / "cache", max_frames=MAX_FRAMES
    )
    logged = extract_features(
        files, Counting(SpectrogramFeatures(log=True)), tmp_path / "cache", max_frames=MAX_FRAMES
    )
    assert logged.path != plain.path
    assert_rows_match(logged.features, 0, direct(SpectrogramFeatures(log=True), files[0])[0])


def test_extract_resumes_an_interrupted_run(tmp_path: Path) -> None:
    files = [*write_clips(tmp_path / "wav"), tmp_path / "wav" / "corrupt.wav"]
    files[-1].write_bytes(b"not audio")
    files[1], files[-1] = files[-1], files[1]  # a skipped file in the first batch
    # call 1 probes the feature size, call 2 extracts files 0-1, call 3 is interrupted
    interrupted = Counting(SpectrogramFeatures(), interrupt_on_call=3)
    done: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        extract_features(
            files,
            interrupted,
            tmp_path / "cache",
            max_frames=MAX_FRAMES,
            batch_size=2,
            progress=done.append,
        )
    assert done == [2]
    assert len(list((tmp_path / "cache").glob("*.partial"))) == 1
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".partial")]
    resumed = Counting(SpectrogramFeatures())
    done.clear()
    fs = extract_features(
        files,
        resumed,
        tmp_path / "cache",
        max_frames=MAX_FRAMES,
        batch_size=2,
        progress=done.append,
    )
    assert sum(resumed.batches[1:]) == len(files) - 2  # only the remaining files
    assert done[0] == 2 and sum(done) == len(files)
    assert not list((tmp_path / "cache").glob("*.partial"))
    whole = extract_features(
        files, SpectrogramFeatures(), tmp_path / "other", max_frames=MAX_FRAMES, batch_size=2
    )
    assert np.array_equal(fs.features, whole.features)
    assert np.array_equal(fs.lengths, whole.lengths) and np.array_equal(fs.ok, whole.ok)
    assert fs.skipped == whole.skipped and [s.path for s in fs.skipped] == [files[1]]
    assert fs.ok.tolist() == [True, False] + [True] * 5


def test_extract_bad_arguments(tmp_path: Path) -> None:
    files = write_clips(tmp_path / "wav", SECONDS[:1])
    for kwargs in (
        {"max_frames": 0},
        {"max_frames": -3},
        {"max_frames": 8, "batch_size": 0},
    ):
        with pytest.raises(ValueError, match=r"max_frames|batch_size"):
            extract_features(files, SpectrogramFeatures(), tmp_path / "cache", **kwargs)
    for kwargs in ({"max_frames": 2.5}, {"max_frames": 8, "batch_size": True}):
        with pytest.raises(TypeError, match=r"max_frames|batch_size"):
            extract_features(files, SpectrogramFeatures(), tmp_path / "cache", **kwargs)


def test_extract_empty_file_list(tmp_path: Path) -> None:
    fs = extract_features([], SpectrogramFeatures(), tmp_path / "cache", max_frames=MAX_FRAMES)
    assert len(fs) == 0 and fs.features.shape == (0, MAX_FRAMES, 512) and fs.skipped == []


def test_extract_resume_with_another_shard_size_starts_over(tmp_path: Path) -> None:
    files = write_clips(tmp_path / "wav")
    with pytest.raises(KeyboardInterrupt):  # call 1 probes, call 2 stores a batch, 3 dies
        extract_features(files, Counting(SpectrogramFeatures(), interrupt_on_call=3),
                         tmp_path / "cache", max_frames=MAX_FRAMES, batch_size=2,
                         shard_size=2)  # fmt: skip
    # the shard records of size 2 must not be read against shards of size 3
    resumed = Counting(SpectrogramFeatures())
    fs = extract_features(files, resumed, tmp_path / "cache", max_frames=MAX_FRAMES,
                          batch_size=2, shard_size=3)  # fmt: skip
    assert sum(resumed.batches[1:]) == len(files)  # everything extracted afresh
    whole = extract_features(files, SpectrogramFeatures(), tmp_path / "other",
                             max_frames=MAX_FRAMES, batch_size=2)  # fmt: skip
    assert np.array_equal(fs.features, whole.features)
    assert np.array_equal(fs.lengths, whole.lengths) and np.array_equal(fs.ok, whole.ok)


@pytest.mark.parametrize("indent", [" ", "  ", "\t"])
def test_iemocap_an_indented_annotation_line_is_read_not_dropped(tmp_path: Path, indent: str):
    # issue #13: ' [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu...' was dropped silently
    root, _ = small_iemocap(tmp_path)
    reference = {u.id for u in read_iemocap(root, check_counts=False).utterances}
    file = annotation_file(root, "Ses01F_impro01_F000")
    lines = file.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "\tSes01F_impro01_F000\t" in line)
    lines[at] = indent + lines[at]
    file.write_text("".join(lines))
    ds = read_iemocap(root, check_counts=False)
    assert {u.id for u in ds.utterances} == reference
    assert "Ses01F_impro01_F000" in reference and not ds.skipped


def test_iemocap_a_byte_order_mark_does_not_hide_the_first_line(tmp_path: Path):
    root, _ = small_iemocap(tmp_path)
    reference = {u.id for u in read_iemocap(root, check_counts=False).utterances}
    file = annotation_file(root, "Ses01F_impro01_F000")
    text = file.read_text()
    first = text.index("\n[") + 1  # the header goes: the first line is an utterance's
    file.write_bytes(b"\xef\xbb\xbf" + text[first:].encode())
    assert {u.id for u in read_iemocap(root, check_counts=False).utterances} == reference


def test_iemocap_a_line_with_an_utterance_id_is_never_skipped(tmp_path: Path):
    root, _ = small_iemocap(tmp_path)
    file = annotation_file(root, "Ses01F_impro01_F000")
    lines = file.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "\tSes01F_impro01_F000\t" in line)
    lines[at] = lines[at].replace("[", "(", 1)  # a corrupted summary line
    file.write_text("".join(lines))
    with pytest.raises(DatasetFormatError, match=rf"{file.name}:{at + 1}.*Ses01F_impro01_F000"):
        read_iemocap(root, check_counts=False)


def test_extract_skips_truncated_nan_and_float16_overflow_files(tmp_path: Path) -> None:
    """Issue #13: each of these was cached as ``ok`` before; now each is skipped with a reason."""
    folder = tmp_path / "wav"
    good = fx.write_wav(folder / "good.wav", fx.tone(0.3, 300.0, 0))
    truncated = folder / "truncated.wav"
    whole = fx.write_wav(folder / "whole.wav", fx.tone(0.3, 300.0, 1)).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])  # header announces twice the data
    nan = folder / "nan.wav"
    wav = fx.tone(0.3, 300.0, 2).astype(np.float32)
    wav[100] = np.nan
    soundfile.write(str(nan), wav, fx.RATE, subtype="FLOAT")
    loud = folder / "loud.wav"
    soundfile.write(str(loud), fx.tone(0.3, 300.0, 3) * 1e4, fx.RATE, subtype="FLOAT")
    files = [good, truncated, nan, loud]
    fs = extract_features(
        files,
        SpectrogramFeatures(normalize=False),
        tmp_path / "cache",
        max_frames=40,
        batch_size=2,
    )
    reasons = {s.path: s.reason for s in fs.skipped}
    assert set(reasons) == {truncated, nan, loud}
    assert "truncated" in reasons[truncated]
    assert "NaN or inf" in reasons[nan]
    assert "float16" in reasons[loud]
    assert fs.ok.tolist() == [True, False, False, False]
    assert np.isfinite(fs.features[0]).all()


def test_load_audio_refuses_truncated_and_nan_wavs(tmp_path: Path) -> None:
    whole = fx.write_wav(tmp_path / "whole.wav", fx.tone(0.2, 300.0, 0))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated"):
        load_audio(cut)
    nan = tmp_path / "nan.wav"
    soundfile.write(str(nan), np.full(800, np.nan, np.float32), fx.RATE, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN or inf"):
        load_audio(nan)
    assert load_audio(whole).shape[0] == soundfile.info(str(whole)).frames
