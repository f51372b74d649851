"""The USB page's code runs, against a re-statement of USB's FixMatch (issue #14, item 9)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
import usb_restatement
from torch import Tensor, nn

from sertoolkit.fusion import WeightedFusion

PAGE = Path(__file__).resolve().parents[1] / "docs" / "pages" / "usb.md"


class _Net(nn.Module):
    """A USB-style model: features in, ``{"logits", "feat"}`` out."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Linear(6, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        feat = self.body(x).relu()
        return {"logits": self.head(feat) * 12.0, "feat": feat}


@pytest.fixture
def page() -> dict[str, Any]:
    usb_restatement.install()
    g = torch.Generator().manual_seed(0)
    ns: dict[str, Any] = {
        "expression_probs": torch.randn(20, 7, generator=g).mul(2).softmax(-1),
        "has_face": torch.ones(20, dtype=torch.bool),
    }
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 3
    for code in blocks:
        exec(compile(code, str(PAGE), "exec"), ns)
    return ns


def _batch(seed: int) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    g = torch.Generator().manual_seed(seed)
    lb = {"x_lb": torch.randn(4, 6, generator=g), "y_lb": torch.randint(0, 3, (4,), generator=g)}
    x = torch.randn(8, 6, generator=g)
    ulb = {
        "idx_ulb": torch.randperm(20, generator=g)[:8],
        "x_ulb_w": x,
        "x_ulb_s": x + 0.3 * torch.randn(8, 6, generator=g),
    }
    return lb, ulb


def _unsup(algorithm: Any, seed: int) -> Tensor:
    lb, ulb = _batch(seed)
    _, log = algorithm.step(lb, ulb)
    return log["unsup_loss"]


@pytest.mark.parametrize("seed", range(8))
def test_both_recipes_at_alpha_1_equal_usb_fixmatch(page: dict[str, Any], seed: int) -> None:
    stock = usb_restatement.FixMatch(_Net(), p_cutoff=0.95)
    want = _unsup(stock, seed)
    assert float(want.detach()) > 0  # some clips pass USB's cutoff: the equality is not 0 == 0
    sub = page["FusionFixMatch"](_Net(), p_cutoff=0.95)
    sub.bank = page["bank"]
    sub.rule = WeightedFusion(1.0, 0.95, inclusive=True)
    torch.testing.assert_close(_unsup(sub, seed), want, rtol=1e-6, atol=1e-7)
    hooked = page["WithIndices"](_Net(), p_cutoff=0.95)
    page["use_fusion"](hooked, page["bank"], WeightedFusion(1.0, 0.95, inclusive=True))
    torch.testing.assert_close(_unsup(hooked, seed), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("seed", range(8))
def test_the_two_recipes_agree_on_ff2(page: dict[str, Any], seed: int) -> None:
    sub = page["FusionFixMatch"](_Net(), p_cutoff=0.5)
    sub.bank = page["bank"]
    sub.rule = WeightedFusion(0.2, 0.5, inclusive=True)
    hooked = page["WithIndices"](_Net(), p_cutoff=0.5)
    page["use_fusion"](hooked, page["bank"], sub.rule)
    a, b = _unsup(sub, seed), _unsup(hooked, seed)
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    stock = _unsup(usb_restatement.FixMatch(_Net(), p_cutoff=0.5), seed)
    assert not torch.equal(a, stock)  # FF2 at alpha 0.2 is not FixMatch


def test_soft_targets_follow_usb_hard_label_flag(page: dict[str, Any]) -> None:
    hard = page["FusionFixMatch"](_Net(), p_cutoff=0.3)
    hard.bank = page["bank"]
    hard.rule = WeightedFusion(0.2, 0.3, inclusive=True)
    soft = page["FusionFixMatch"](_Net(), p_cutoff=0.3, hard_label=False)
    soft.bank, soft.rule = page["bank"], hard.rule
    assert float(_unsup(hard, 1).detach()) > 0
    assert not torch.equal(_unsup(hard, 1), _unsup(soft, 1))
