"""Smoke test of the throughput benchmark at tiny sizes (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


def test_quick_run_writes_every_section(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--device", "cpu", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "throughput.json").read_text())
    assert set(result["sections"]) == {"components", "encoder", "step", "face", "scaling"}
    names = [row["name"] for rows in result["sections"].values() for row in rows]
    for needle in ("spec_augment", "torchaudio SpecAugment", "FF1", "FF2", "pool_frames",
                   "encoder fwd+bwd, fp32", "bf16", "separate forwards",
                   "one concatenated forward", "face model",
                   "DDP Algorithm-1 step, 1 rank(s)", "DDP Algorithm-1 step, 2 rank(s)"):  # fmt: skip
        assert any(needle in n for n in names), needle
    for rows in result["sections"].values():
        for row in rows:
            if "skipped" in row:  # bf16 on a CPU without native bf16, with the measured reason
                assert "bf16" in row["name"] and "GFLOP/s" in row["skipped"]
                continue
            assert row["median_ms"] > 0
            if "mfu" in row:
                assert row["mfu"] > 0 and row["tflops"] > 0
    spec = result["sections"]["components"][0]
    assert set(spec["vs"]) == {
        "torchaudio SpecAugment",
        "per-example loop",
        "memory floor (x.clone)",
    }
    assert set(spec["vs_range"]) == set(spec["vs"])
    for lo, hi in spec["vs_range"].values():
        assert 0 < lo <= hi
    out = result["sections"]["components"][1]
    assert out["name"] == "spec_augment(out=preallocated)"
    assert set(out["vs"]) == {"torchaudio SpecAugment", "per-example loop", "memory floor (copy_)"}
    assert [t["target"] for t in result["targets"]] == [
        "spec_augment >= 5x torchaudio SpecAugment",
        "spec_augment(out=preallocated) >= 5x torchaudio SpecAugment",
        "augmentation + fusion + pooling < 2% of the step",
        "bf16 Algorithm-1 step >= 40% MFU",
    ]
    # a CPU run never claims the GPU targets
    assert result["targets"][2]["status"].startswith("informative")
    bf16 = result["targets"][3]
    assert bf16["status"].startswith(("informative", "bf16 rows skipped"))
    assert all("quick shapes" in t["status"] for t in result["targets"][:2])
    table = (tmp_path / "throughput.md").read_text()
    assert "| spec_augment |" in table and "MFU" in table and "Targets" in table


@pytest.mark.parametrize("option", ["--min-run-time", "--rounds"])
def test_bad_options_fail_in_one_line(option: str):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", option, "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert option in proc.stderr


def test_help_states_each_default_once() -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parent.parent / "benchmarks" / "throughput.py"
    out = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "(default: None)" not in out and "(default: False)" not in out
    assert "default 3, quick 1" in " ".join(out.split())
