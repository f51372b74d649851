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
