"""The main job on real-dataset layouts: fixtures in IEMOCAP's and CH-SIMS' native formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchaudio
from datasets_fixtures import make_chsims, make_iemocap, make_manifest

from sertoolkit.encoders import MobileNetV2FaceModel

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "reproduce_paper.py"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("real")
    make_iemocap(d / "iemocap")
    make_chsims(d / "chsims", clips=24)
    make_manifest(d / "unlabelled", ("face_probs", "face_logits", "faces_dir"), clips=12)
    torch.save(MobileNetV2FaceModel(width_mult=0.35).state_dict(), d / "face.pt")
    extractor = torchaudio.models.wav2vec2_base().feature_extractor
    torch.save(extractor.state_dict(), d / "wav2vec.pt")
    return d


def iemocap_args(data: Path, out: Path) -> list[str | Path]:
    return [
        "--profile", "tiny", "--seeds", "0", "--out", out, "--dataset", "iemocap",
        "--iemocap-root", data / "iemocap", "--unlabelled", data / "unlabelled" / "manifest.csv",
        "--wav2vec-checkpoint", data / "wav2vec.pt", "--face-model", data / "face.pt",
        "--face-width", "0.35", "--face-size", "32",
        "--methods", "supervised", "fixmatch", "cr_eps0.5", "wf_alpha0.2",
    ]  # fmt: skip


def test_iemocap_run_counts_caches_and_reports(data: Path, tmp_path: Path):
    out = tmp_path / "out"
    proc = run(*iemocap_args(data, out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the counts are printed, and the difference from the paper's 5,531 is warned about
    assert "IEMOCAP: 80 utterances" in proc.stderr
    assert "DatasetCountWarning" in proc.stderr and "5531" in proc.stderr
    assert "train: 16 neutral, 16 happy, 16 angry, 16 sad (64)" in proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert set(results["summary"]["iemocap"]) == {
        "supervised",
        "fixmatch",
        "cr_eps0.5",
        "wf_alpha0.2",
    }
    stats = results["corpus"]["iemocap"]
    assert stats["split_sizes"]["train"] == 64
    assert stats["split_sizes"]["val"] == stats["split_sizes"]["test"] == 8
    assert stats["labelled_excluded_labels"] == {"fru": 10, "xxx": 10}
    assert results["config"]["data"]["features"] == "wav2vec"
    text = (out / "report.md").read_text()
    assert "real data" in text and "simulation" not in text
    assert "Table 5 setting: IEMOCAP, 4 emotions (real data)" in text and "-like" not in text
    # telemetry: the hidden truth of real unlabelled clips is unknown, so no accuracy is made up
    telemetry = json.loads((out / "pseudo_labels.json").read_text())
    for entry in telemetry["iemocap"].values():
        assert all(v is None for v in entry.get("pseudo_label_accuracy", []))
    # a second run reads the feature cache and the finished runs: nothing is recomputed
    cached = {p: p.stat().st_mtime_ns for p in (out / "cache").rglob("*.npy")}
    assert cached
    again = run(*iemocap_args(data, out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert cached == {p: p.stat().st_mtime_ns for p in (out / "cache").rglob("*.npy")}


def test_chsims_run_reads_audio_from_mp4(data: Path, tmp_path: Path):
    out = tmp_path / "out"
    proc = run(
        "--profile", "tiny", "--seeds", "0", "--out", out, "--dataset", "chsims",
        "--chsims-root", data / "chsims", "--unlabelled", data / "unlabelled" / "manifest.csv",
        "--face-model", data / "face.pt", "--face-width", "0.35", "--face-size", "32",
        "--face-channels", "1", "--methods", "supervised", "cr_eps0.5",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CH-SIMS: 24 utterances" in proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["data"]["features"] == "stft"
    assert results["config"]["data"]["chsims_annotation"] == "label_A"
    assert sum(results["corpus"]["chsims"]["split_sizes"].values()) == 24 + 12


def test_a_malformed_annotation_line_stops_with_file_and_line(data: Path, tmp_path: Path):
    root = tmp_path / "iemocap"
    make_iemocap(root, sessions=5)
    txt = root / "Session2" / "dialog" / "EmoEvaluation" / "Ses02F_impro01.txt"
    lines = txt.read_text().splitlines(keepends=True)
    lines[4] = "[3.1 - x]\tSes02F_impro01_F009\tneu\t[1, 2, 3]\n"
    txt.write_text("".join(lines))
    proc = run(
        "--profile", "tiny", "--out", tmp_path / "out", "--dataset", "iemocap",
        "--iemocap-root", root, "--unlabelled", data / "unlabelled" / "manifest.csv",
        "--features", "stft",
    )  # fmt: skip
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert f"{txt}:5: malformed annotation line" in last
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--iemocap-root", "{d}/iemocap", "--unlabelled", "{d}/unlabelled/manifest.csv"],
         "needs --dataset iemocap"),
        (["--dataset", "iemocap", "--iemocap-root", "{d}/iemocap"], "needs --unlabelled"),
        (["--dataset", "iemocap", "--iemocap-root", "{d}/iemocap",
          "--unlabelled", "{d}/unlabelled/manifest.csv"], "--wav2vec-checkpoint"),
        (["--dataset", "iemocap", "--iemocap-root", "{d}/nowhere",
          "--unlabelled", "{d}/unlabelled/manifest.csv"], "is not a folder"),
        (["--dataset", "chsims", "--chsims-root", "{d}/chsims",
          "--unlabelled", "{d}/missing.csv"], "is not a file"),
        (["--unlabelled", "{d}/unlabelled/manifest.csv"], "applies to real datasets"),
    ],
)  # fmt: skip
def test_bad_real_data_options_fail_in_one_line(data: Path, args: list[str], message: str):
    proc = run(*[a.format(d=data) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("real", "title"), [(False, "CH-SIMS-like:"), (True, "CH-SIMS:")])
def test_sweep_figure_names_the_data(tmp_path: Path, monkeypatch, real: bool, title: str):
    import matplotlib.figure

    from benchmarks import report

    titles: list[str] = []
    save = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        titles.append(fig._suptitle.get_text())
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    stat = {m: {"mean": 50.0, "std": 1.0} for m in ("F1", "WA", "UA")}
    report.plot_sweeps(
        {"chsims": {"cr_eps0.5": stat, "supervised": stat}}, tmp_path / "s.png", real=real
    )
    assert titles and titles[0].startswith(title)
