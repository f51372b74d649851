"""A small, faithful re-statement of USB 0.3.2's FixMatch machinery (issue #14, item 9).

Only what the docs page "Using sertoolkit in USB" touches: ``AlgorithmBase`` (hooks,
``process_batch`` filtering the batch by ``train_step``'s signature, ``compute_prob``, the CE
and consistency losses), ``FixMatch.train_step``, ``FixedThresholdingHook`` (``max_probs >=
p_cutoff`` as a float mask) and ``PseudoLabelingHook``. Written from USB's semantics, not
copied: USB itself drags in about 30 packages. :func:`install` registers it as
``semilearn`` in ``sys.modules`` so that the page's code imports what a USB user imports.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def ce_loss(logits: Tensor, targets: Tensor, reduction: str = "none") -> Tensor:
    if logits.shape == targets.shape:  # soft targets
        loss = -(targets * F.log_softmax(logits, dim=-1)).sum(dim=1)
        return loss if reduction == "none" else loss.mean()
    return F.nll_loss(F.log_softmax(logits, dim=-1), targets, reduction=reduction)


def consistency_loss(
    logits: Tensor, targets: Tensor, name: str = "ce", mask: Tensor | None = None
) -> Tensor:
    assert name == "ce"
    loss = ce_loss(logits, targets, reduction="none")
    if mask is not None:
        loss = loss * mask
    return loss.mean()


class Hook:
    pass


class MaskingHook(Hook):
    def masking(self, algorithm: Any, *args: Any, **kwargs: Any) -> Tensor:
        raise NotImplementedError


class FixedThresholdingHook(MaskingHook):
    @torch.no_grad()
    def masking(
        self,
        algorithm: Any,
        logits_x_ulb: Tensor,
        softmax_x_ulb: bool = True,
        *args: Any,
        **kwargs: Any,
    ) -> Tensor:
        probs = (
            algorithm.compute_prob(logits_x_ulb.detach())
            if softmax_x_ulb
            else logits_x_ulb.detach()
        )
        max_probs, _ = torch.max(probs, dim=-1)
        return max_probs.ge(algorithm.p_cutoff).to(max_probs.dtype)


class PseudoLabelingHook(Hook):
    @torch.no_grad()
    def gen_ulb_targets(
        self,
        algorithm: Any,
        logits: Tensor,
        use_hard_label: bool = True,
        T: float = 1.0,  # noqa: N803 -- USB's name
        softmax: bool = True,
        label_smoothing: float = 0.0,
    ) -> Tensor:
        logits = logits.detach()
        if use_hard_label:
            return torch.argmax(logits, dim=-1)
        return algorithm.compute_prob(logits / T) if softmax else logits


class AlgorithmBase:
    def __init__(
        self,
        model: torch.nn.Module,
        *,
        p_cutoff: float = 0.95,
        lambda_u: float = 1.0,
        T: float = 0.5,  # noqa: N803 -- USB's name
        hard_label: bool = True,
    ) -> None:
        self.model = model
        self.p_cutoff, self.lambda_u, self.T, self.use_hard_label = (
            p_cutoff,
            lambda_u,
            T,
            hard_label,
        )
        self.ce_loss, self.consistency_loss = ce_loss, consistency_loss
        self._hooks: dict[str, Hook] = {}
        self.set_hooks()

    def set_hooks(self) -> None:
        pass

    def register_hook(self, hook: Hook, name: str) -> None:
        self._hooks[name] = hook

    def registered_hook(self, name: str) -> bool:
        return name in self._hooks

    def call_hook(self, fn_name: str, hook_name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._hooks[hook_name], fn_name)(self, *args, **kwargs)

    def compute_prob(self, logits: Tensor) -> Tensor:
        return torch.softmax(logits, dim=-1)

    def process_batch(self, **kwargs: Any) -> dict[str, Any]:
        wanted = inspect.signature(self.train_step).parameters
        return {k: v for k, v in kwargs.items() if k in wanted}

    def process_out_dict(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def process_log_dict(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def train_step(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def step(self, data_lb: dict[str, Tensor], data_ulb: dict[str, Tensor]) -> Any:
        """What USB's train loop does with one batch (data dicts as its datasets return them)."""
        return self.train_step(**self.process_batch(**data_lb, **data_ulb))


class FixMatch(AlgorithmBase):
    def set_hooks(self) -> None:
        self.register_hook(PseudoLabelingHook(), "PseudoLabelingHook")
        self.register_hook(FixedThresholdingHook(), "MaskingHook")

    def train_step(self, x_lb: Tensor, y_lb: Tensor, x_ulb_w: Tensor, x_ulb_s: Tensor) -> Any:
        num_lb = y_lb.shape[0]
        outputs = self.model(torch.cat((x_lb, x_ulb_w, x_ulb_s)))
        logits_x_lb = outputs["logits"][:num_lb]
        logits_x_ulb_w, logits_x_ulb_s = outputs["logits"][num_lb:].chunk(2)
        sup_loss = self.ce_loss(logits_x_lb, y_lb, reduction="mean")
        probs_x_ulb_w = self.compute_prob(logits_x_ulb_w.detach())
        mask = self.call_hook(
            "masking", "MaskingHook", logits_x_ulb=probs_x_ulb_w, softmax_x_ulb=False
        )
        pseudo_label = self.call_hook(
            "gen_ulb_targets", "PseudoLabelingHook", logits=probs_x_ulb_w,
            use_hard_label=self.use_hard_label, T=self.T, softmax=False,
        )  # fmt: skip
        unsup_loss = self.consistency_loss(logits_x_ulb_s, pseudo_label, "ce", mask=mask)
        total_loss = sup_loss + self.lambda_u * unsup_loss
        return self.process_out_dict(loss=total_loss), self.process_log_dict(
            unsup_loss=unsup_loss, util_ratio=mask.float().mean()
        )


def install() -> None:
    """Register this re-statement as the ``semilearn`` package."""
    root = types.ModuleType("semilearn")
    algorithms = types.ModuleType("semilearn.algorithms")
    fixmatch = types.ModuleType("semilearn.algorithms.fixmatch")
    hooks = types.ModuleType("semilearn.algorithms.hooks")
    core = types.ModuleType("semilearn.core")
    fixmatch.FixMatch = FixMatch  # type: ignore[attr-defined]
    for name, obj in (("MaskingHook", MaskingHook), ("PseudoLabelingHook", PseudoLabelingHook),
                      ("FixedThresholdingHook", FixedThresholdingHook)):  # fmt: skip
        setattr(hooks, name, obj)
    core.AlgorithmBase = AlgorithmBase  # type: ignore[attr-defined]
    for name, mod in (("semilearn", root), ("semilearn.algorithms", algorithms),
                      ("semilearn.algorithms.fixmatch", fixmatch),
                      ("semilearn.algorithms.hooks", hooks), ("semilearn.core", core)):  # fmt: skip
        sys.modules[name] = mod
