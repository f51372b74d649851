"""The fused (Triton) CUDA path of spec_augment gives exactly the eager path's result.

Triton's interpreter (``TRITON_INTERPRET=1``) runs the kernel on the CPU, so the comparison
runs everywhere, in a subprocess (the interpreter is chosen when the kernel is built). On a GPU
``tests/test_cuda_sync.py`` and the device-fixture tests run the compiled kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from sertoolkit import _fused

pytest.importorskip("triton")

SCRIPT = textwrap.dedent(
    """
    import torch
    from sertoolkit import _fused
    from sertoolkit.augment import spec_augment

    rng = torch.Generator().manual_seed(0)

    def draw(lo, hi):
        return int(torch.randint(lo, hi + 1, (), generator=rng))

    checked = 0
    for case in range(40):
        batch, frames, bins = draw(1, 5), draw(1, 70), draw(1, 150)
        settings = dict(time_masks=draw(0, 3), time_width=draw(0, 30),
                        freq_masks=draw(0, 3), freq_width=draw(0, 200))
        dtype = (torch.float32, torch.float16, torch.bfloat16)[case % 3]
        x = torch.randn(batch, frames, bins, generator=rng).to(dtype)
        if case % 7 == 5:  # NaN in unmasked cells comes back as it was
            x[0, 0, 0] = float("nan")
        lengths = torch.randint(0, frames + 1, (batch,), generator=rng) if case % 4 else None
        if lengths is not None and case % 4 == 3:  # a strided view (a column of a table)
            lengths = torch.stack([lengths, torch.full_like(lengths, -7)], 1)[:, 0]
        fill = (0.0, -1.5, 3.0)[case % 3]
        seed = 100 + case
        want = spec_augment(x, **settings, lengths=lengths, fill=fill, validate=False,
                            generator=torch.Generator().manual_seed(seed))
        g = torch.Generator().manual_seed(seed)
        if case % 5 == 1:  # a transposed preallocated buffer
            out = torch.full((batch, bins, frames), float("nan"), dtype=dtype).transpose(1, 2)
        elif case % 5 == 2:  # in place
            out = x.clone()
        else:
            out = None
        src = out if case % 5 == 2 else x
        got = _fused.spec_augment(src, **settings, lengths=lengths, fill=fill, generator=g,
                                  out=out)
        # equal, NaN where the eager result has NaN
        assert torch.equal(got.isnan(), want.isnan()), case
        assert torch.equal(got.nan_to_num(7.0), want.nan_to_num(7.0)), (case, settings)
        if out is not None:
            assert got is out
        # the generator advanced exactly as the eager path's did
        ref = torch.Generator().manual_seed(seed)
        spec_augment(x, **settings, lengths=lengths, fill=fill, generator=ref, validate=False)
        assert torch.equal(torch.rand(4, generator=g), torch.rand(4, generator=ref))
        checked += int(not torch.equal(want, x))
    assert checked > 20, checked  # most cases mask something
    print("ok", checked)
    """
)


@pytest.mark.skipif(
    _fused._torch_version() < _fused._MIN_TORCH,
    reason="the fused kernel needs the Triton of torch >= 2.11 (older torch takes the eager path)",
)
def test_fused_spec_augment_matches_the_eager_path_bit_for_bit():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")


def test_the_fused_path_is_not_taken_where_it_cannot_be():
    from sertoolkit import _fused

    assert not _fused.usable(torch.randn(2, 3, 4))  # a CPU tensor
    if torch.cuda.is_available():
        x = torch.randn(2, 3, 4, device="cuda")
        assert _fused.usable(x)
        assert not _fused.usable(x.double())
        assert not _fused.usable(x.requires_grad_())
        assert not _fused.usable(torch.empty(0, 3, 4, device="cuda"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_compiled_kernel_matches_the_eager_path_on_the_gpu(dtype: torch.dtype):
    from sertoolkit.augment import apply_spec_augment, spec_augment, spec_augment_masks

    x = torch.randn(32, 555, 512, device="cuda").to(dtype)
    lengths = torch.randint(0, 556, (32,), device="cuda")
    settings = {"time_masks": 2, "time_width": 55, "freq_masks": 2, "freq_width": 51}
    fused = spec_augment(
        x, **settings, lengths=lengths, generator=torch.Generator("cuda").manual_seed(1)
    )
    masks = spec_augment_masks(
        32, 555, 512, **settings, lengths=lengths, generator=torch.Generator("cuda").manual_seed(1)
    )
    assert torch.equal(fused, apply_spec_augment(x, masks, lengths=lengths))
    assert not torch.equal(fused, x)
