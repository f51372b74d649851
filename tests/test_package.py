"""The package's top level: every module is an attribute; the fusion core needs torch alone."""

from __future__ import annotations

import subprocess
import sys

import sertoolkit

MODULES = ("augment", "datasets", "encoders", "features", "fusion", "losses", "masking",
           "metrics", "pooling", "schedules", "taxonomy")  # fmt: skip


def test_every_module_is_exported() -> None:
    assert set(MODULES) <= set(sertoolkit.__all__)
    for name in MODULES:
        assert getattr(sertoolkit, name).__name__ == f"sertoolkit.{name}"


def test_the_core_imports_without_torchaudio() -> None:
    code = (
        "import sys, sertoolkit, sertoolkit.fusion, sertoolkit.losses\n"
        "assert 'torchaudio' not in sys.modules, 'the core imported torchaudio'\n"
        "sertoolkit.features\n"
        "assert 'torchaudio' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_core_imports_with_torchaudio_soundfile_and_av_absent() -> None:
    code = (
        "import sys\n"
        "for name in ('torchaudio', 'soundfile', 'av', 'torchvision', 'einops'):\n"
        "    sys.modules[name] = None  # importing it now raises ImportError\n"
        "import sertoolkit\n"
        "from sertoolkit import augment, fusion, losses, masking, metrics, pooling\n"
        "from sertoolkit import schedules, taxonomy\n"
        "import torch\n"
        "p = fusion.weighted_fusion(torch.tensor([[0.9, 0.1]]), torch.tensor([[1.0, 0.0]]), 0.2)\n"
        "assert p.mask.tolist() == [True]\n"
        "try:\n"
        "    sertoolkit.features\n"
        "except ImportError as err:\n"
        "    assert \"pip install 'sertoolkit[audio]'\" in str(err), err\n"
        "else:\n"
        "    raise AssertionError('features imported without torchaudio')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
