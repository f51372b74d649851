"""Reading model weights from local files, with errors that name the file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

__all__: list[str] = []


def read_state_dict(
    path: str | os.PathLike[str], what: str, *, map_location: torch.device | str = "cpu"
) -> tuple[Path, dict[str, Tensor]]:
    """Read a ``{name: tensor}`` mapping from a local file.

    ``.safetensors`` files are read with the ``safetensors`` package; anything
    else with ``torch.load(weights_only=True)``, which runs no code from the file. A checkpoint
    that wraps its weights under ``"state_dict"`` or ``"model"`` is unwrapped.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ValueError: If the file cannot be read or holds no mapping of tensors.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"{what.capitalize()} checkpoint not found: {str(file)!r}")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file  # pyright: ignore[reportUnknownVariableType]

            state: object = load_file(str(file), device=str(map_location))
        else:
            state = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"Could not read {what} checkpoint {str(file)!r}: {err}") from err
    for wrapper in ("state_dict", "model"):
        if isinstance(state, Mapping) and wrapper in state:
            inner: object = state[wrapper]  # pyright: ignore[reportUnknownVariableType]
            if isinstance(inner, Mapping):
                state = inner  # pyright: ignore[reportUnknownVariableType]
    if not isinstance(state, Mapping):
        raise ValueError(
            f"Expected {what} checkpoint {str(file)!r} to hold a state dict, "
            f"but got {type(state).__name__}."
        )
    tensors: dict[str, Tensor] = {}
    for key, value in state.items():  # pyright: ignore[reportUnknownVariableType]
        if isinstance(value, Tensor):
            tensors[str(key)] = value  # pyright: ignore[reportUnknownArgumentType]
    if not tensors:
        raise ValueError(f"Expected {what} checkpoint {str(file)!r} to hold tensors, but got none.")
    return file, tensors


def load_strict(model: nn.Module, state: Mapping[str, Tensor], file: Path, what: str) -> None:
    """``load_state_dict(strict=True)`` with an error naming the file and the offending keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k}: expected {tuple(own[k].shape)}, got {tuple(state[k].shape)}"
        for k in set(own) & set(state)
        if tuple(own[k].shape) != tuple(state[k].shape)
    )
    if missing or unexpected or shapes:

        def show(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")

        parts = [
            f"missing keys: {show(missing)}" if missing else "",
            f"unexpected keys: {show(unexpected)}" if unexpected else "",
            f"mis-shaped: {show(shapes)}" if shapes else "",
        ]
        detail = "; ".join(p for p in parts if p)
        raise ValueError(
            f"{what.capitalize()} checkpoint {str(file)!r} does not match the model: {detail}."
        )
    model.load_state_dict(state, strict=True)
