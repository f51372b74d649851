r"""The paper's networks: the Transformer SER model (Sec. 3.1) and the face model (Sec. 3.2).

[TransformerSER][] is Eq. 2:

$$
h = \mathrm{Encoder}(x^a), \quad z = \mathrm{AveragePooling}(h), \quad
f = \mathrm{MLP}(z), \quad p = \mathrm{Softmax}(f)
$$

returning the scores $f$ (logits); the softmax is the caller's. Padded frames are
excluded from attention (key padding) and from the average pooling, so a padded batch gives
the logits each example gives alone.

[MobileNetV2FaceModel][] maps face frames to logits over the 7
[sertoolkit.taxonomy.EXPRESSIONS][]; any module with that contract satisfies the
[FrameEmotionModel][] protocol. Weights are only ever loaded from a local file: nothing is
downloaded.
"""

from __future__ import annotations

import math
import os
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from sertoolkit._checkpoint import load_strict, read_state_dict
from sertoolkit._validation import (
    check_finite,
    check_floating,
    check_in_range,
    check_lengths,
    check_model_dtype,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    check_rank,
    check_same_device,
    check_unit_interval,
    describe,
    fail,
)
from sertoolkit.masking import lengths_to_mask

__all__ = [
    "FrameEmotionModel",
    "MobileNetV2FaceModel",
    "TransformerSER",
    "frame_probabilities",
    "sinusoidal_positions",
]


def sinusoidal_positions(
    length: int, dim: int, *, device: torch.device | str | None = None
) -> Tensor:
    r"""The sinusoidal position encoding of Vaswani et al. (2017).

    $$
    PE_{t, 2i} = \sin(t / 10000^{2i/d}), \quad PE_{t, 2i+1} = \cos(t / 10000^{2i/d})
    $$

    Args:
        length: Number of positions.
        dim: Encoding dimension (even).
        device: Where the encoding is made.

    Shape:
        - output: ``(length, dim)``, float32.

    Returns:
        The encoding.

    Raises:
        ValueError: If ``dim`` is not a positive even int or ``length`` is negative.
    """
    if check_positive_int("dim", dim) % 2:
        raise fail("dim", "an even int", dim)
    check_non_negative_int("length", length)
    position = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)
    freq = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim)
    )
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq)
    return pe


class TransformerSER(nn.Module):
    """Transformer-encoder speech emotion classifier, paper Eq. 2 (Sec. 3.1, 4.2).

    ``input projection -> + sinusoidal positions -> Transformer encoder -> masked average
    pooling over time -> MLP -> logits``. Built from `torch.nn.TransformerEncoderLayer`
    (``batch_first=True``), whose attention runs
    `torch.nn.functional.scaled_dot_product_attention`, so it takes the fused attention
    kernels on GPU, runs under bf16 autocast and compiles with ``torch.compile`` in one graph.

    Defaults are the paper's where it states them (Sec. 4.2): 8 heads, 8 blocks, hidden size
    512, every linear map followed by dropout. Where it is silent we chose, and say so:

    * position information: sinusoidal encodings (the Transformer of [35]); ``positional=False``
      turns them off;
    * layer-norm placement: pre-norm (``norm_first=True``) with a final layer norm, which trains
      stably at the paper's learning rate of 0.01 without further tricks; ``norm_first=False``
      gives the original post-norm block;
    * feed-forward width 2048 and dropout 0.1 (the values of [35]); the MLP head has one hidden
      layer of ``d_model`` units with ReLU.

    Args:
        input_dim: Feature dimension ``d`` of the input (paper: 512).
        num_classes: Number of classes ``c`` (paper: 3 or 4).
        d_model: Hidden size (paper: 512).
        num_heads: Attention heads (paper: 8).
        num_layers: Transformer blocks (paper: 8).
        dim_feedforward: Width of each block's feed-forward layer.
        dropout: Dropout after every linear map, in ``[0, 1)``.
        attention_dropout: Dropout on the attention weights, in ``[0, 1)``. The paper
            regularises "every linear mapping" with dropout; the attention weights are not a
            linear map, so this defaults to 0 (it is also the costliest dropout: one draw per
            query-key pair).
        norm_first: Pre-norm (``True``) or post-norm blocks.
        positional: Add sinusoidal position encodings.

    Shape:
        - x: ``(batch, time, input_dim)``, floating
        - lengths: ``(batch,)`` integer, valid frames first (see
          [sertoolkit.masking.lengths_to_mask][]); default: every frame valid
        - output: ``(batch, num_classes)`` logits

    Raises:
        ValueError: On invalid settings (e.g. ``d_model`` not divisible by ``num_heads``) or
            malformed inputs.

    Examples:
        >>> model = TransformerSER(40, 4, d_model=32, num_heads=4, num_layers=2).eval()
        >>> x = torch.randn(3, 50, 40)
        >>> model(x, torch.tensor([50, 20, 7])).shape
        torch.Size([3, 4])
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        *,
        d_model: int = 512,
        num_heads: int = 8,
        num_layers: int = 8,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        norm_first: bool = True,
        positional: bool = True,
    ) -> None:
        super().__init__()
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.d_model = check_positive_int("d_model", d_model)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.num_layers = check_positive_int("num_layers", num_layers)
        check_positive_int("dim_feedforward", dim_feedforward)
        self.dropout_p = check_unit_interval("dropout", dropout, open_right=True)
        self.attention_dropout = check_unit_interval(
            "attention_dropout", attention_dropout, open_right=True
        )
        if d_model % num_heads:
            raise fail("d_model", f"divisible by num_heads={num_heads}", d_model)
        if positional and d_model % 2:
            raise fail("d_model", "even when positional=True", d_model)
        self.positional = positional
        self.norm_first = norm_first
        self.input_proj = nn.Linear(input_dim, d_model)
        self.input_dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            batch_first=True,
            norm_first=norm_first,
        )
        # nn.TransformerEncoderLayer applies its one `dropout` to the attention weights too;
        # those are not a linear map, so they get their own rate
        layer.self_attn.dropout = self.attention_dropout
        self.encoder = nn.TransformerEncoder(
            layer,
            num_layers,
            norm=nn.LayerNorm(d_model) if norm_first else None,
            enable_nested_tensor=False,
        )
        self.head = nn.Sequential(
            nn.Linear(d_model, d_model),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(d_model, num_classes),
        )

    def _check_inputs(self, x: Tensor, lengths: Tensor | None, validate: bool) -> None:
        check_rank("x", x, 3, "(batch, time, input_dim)")
        check_floating("x", x)
        if x.shape[2] != self.input_dim:
            raise fail("x", f"a tensor with input_dim={self.input_dim} features", describe(x))
        check_model_dtype("x", x, self.input_proj.weight)
        if lengths is not None:
            check_lengths("lengths", lengths, x.shape[0], x.shape[1], validate=False)
            check_same_device("lengths", lengths, "x", x)
            check_lengths("lengths", lengths, x.shape[0], x.shape[1], validate=validate)
            if validate:
                valid = lengths_to_mask(lengths, x.shape[1], validate=False).unsqueeze(2)
                check_finite("x", x, validate=True, where=valid)
        else:
            check_finite("x", x, validate=validate)

    def embed(self, x: Tensor, lengths: Tensor | None = None, *, validate: bool = True) -> Tensor:
        """The pooled utterance representation ``z`` of Eq. 2 (before the MLP).

        An example with no valid frame (``lengths[i] == 0``) gets ``z = 0``, never NaN; so does
        every example of an input with no frames. Padding frames (at and after ``lengths[i]``)
        never reach the output, whatever they hold: NaN, inf or any value give exactly the
        output of zero padding. ``validate`` checks the values of ``lengths`` and that the
        valid frames are finite (a device sync on CUDA; pass ``False`` in a training loop or
        under ``torch.compile``). Outside autocast ``x`` must have the model's dtype.

        Shape:
            - x: ``(batch, time, input_dim)``; lengths: ``(batch,)``; output ``(batch, d_model)``.
        """
        self._check_inputs(x, lengths, validate)
        time = x.shape[1]
        if x.shape[0] == 0 or time == 0:
            return self.input_proj(x).sum(dim=1)  # zeros, with the autocast dtype and a graph
        valid = None if lengths is None else lengths_to_mask(lengths, time, validate=False)
        if valid is not None:
            # padding never reaches a valid output, whatever it holds (NaN, inf, 1e30): masked
            # keys still multiply their values by a zero attention weight, and 0 * NaN is NaN
            x = x.masked_fill(~valid.unsqueeze(2), 0.0)
        h = self.input_dropout(self.input_proj(x))
        if self.positional:
            h = h + sinusoidal_positions(time, self.d_model, device=x.device).to(h.dtype)
        if lengths is None or valid is None:
            return self.encoder(h).mean(dim=1)
        # PyTorch's key_padding_mask is True on padding. A row with no valid key would give
        # NaN attention; such rows attend to everything instead and are zeroed by the pooling.
        padding = ~valid & valid.any(dim=1, keepdim=True)
        h = self.encoder(h, src_key_padding_mask=padding)
        weights = valid.to(h.dtype).unsqueeze(2)
        # divide in float32: bf16 cannot hold counts such as 555 exactly
        count = lengths.clamp(min=1).to(torch.float32).unsqueeze(1)
        return ((h * weights).sum(dim=1).float() / count).to(h.dtype)

    def forward(self, x: Tensor, lengths: Tensor | None = None, *, validate: bool = True) -> Tensor:
        """Logits ``f`` of Eq. 2 for a (padded) batch of feature sequences."""
        return self.head(self.embed(x, lengths, validate=validate))

    def extra_repr(self) -> str:
        """Show the settings."""
        return (
            f"input_dim={self.input_dim}, num_classes={self.num_classes}, "
            f"d_model={self.d_model}, num_heads={self.num_heads}, num_layers={self.num_layers}, "
            f"dropout={self.dropout_p}, attention_dropout={self.attention_dropout}, "
            f"norm_first={self.norm_first}, positional={self.positional}"
        )


@runtime_checkable
class FrameEmotionModel(Protocol):
    """Anything mapping face frames ``(n, channels, height, width)`` to ``(n, 7)`` logits.

    The 7 outputs follow [sertoolkit.taxonomy.EXPRESSIONS][].
    """

    def __call__(self, frames: Tensor, /) -> Tensor:
        """Expression logits for a batch of frames."""
        ...


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class MobileNetV2FaceModel(nn.Module):
    """Face-expression classifier on torchvision's MobileNetV2 (paper Sec. 3.2).

    The paper trains MobileNetV2 (Sandler et al. 2018) on RAF-DB for the 7
    [sertoolkit.taxonomy.EXPRESSIONS][]. Inputs are frames with values in ``[0, 1]``;
    the module normalises them with the ImageNet mean and standard deviation (the statistics
    MobileNetV2 backbones are trained with), and repeats a single grey channel to three. The
    paper does not state its input size; 100 x 100 (RAF-DB's aligned crops) or 224 x 224 both
    work, as MobileNetV2 pools globally.

    Weights come only from a local file (`from_checkpoint`); torchvision is asked for no
    pretrained weights, so nothing is downloaded. Requires the ``vision`` extra
    (``torchvision==0.26.*``).

    Args:
        num_classes: Number of expressions (7).
        width_mult: MobileNetV2 width multiplier (1.0 is the standard network).
        dropout: Dropout before the classifier, in ``[0, 1)``.

    Shape:
        - frames: ``(n, 1 or 3, height, width)``, floating, values in ``[0, 1]``
        - output: ``(n, num_classes)`` logits

    Raises:
        ImportError: If torchvision is not installed.
        ValueError: On invalid settings or frames.
    """

    mean: Tensor
    std: Tensor

    def __init__(
        self, num_classes: int = 7, *, width_mult: float = 1.0, dropout: float = 0.2
    ) -> None:
        super().__init__()
        try:
            from torchvision.models import mobilenet_v2
        except ImportError as err:  # pragma: no cover - exercised only without torchvision
            raise ImportError(
                "MobileNetV2FaceModel needs torchvision: pip install 'sertoolkit[vision]'"
            ) from err
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.width_mult = check_positive_float("width_mult", width_mult)
        self.dropout_p = check_unit_interval("dropout", dropout, open_right=True)
        self.net = mobilenet_v2(
            weights=None, num_classes=num_classes, width_mult=self.width_mult, dropout=dropout
        )
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, frames: Tensor, *, validate: bool = True) -> Tensor:
        """Expression logits for a batch of frames.

        ``frames`` hold values in ``[0, 1]`` (checked with ``validate``, a device sync on
        CUDA) and, outside autocast, have the model's dtype.
        """
        check_rank("frames", frames, 4, "(n, channels, height, width)")
        check_floating("frames", frames)
        if frames.shape[1] not in (1, 3):
            raise fail("frames", "1 (grey) or 3 (RGB) channels", describe(frames))
        check_model_dtype("frames", frames, next(self.parameters()))
        check_in_range("frames", frames, 0.0, 1.0, validate=validate)
        if frames.shape[1] == 1:
            frames = frames.expand(-1, 3, -1, -1)
        return self.net((frames - self.mean.to(frames.dtype)) / self.std.to(frames.dtype))

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str],
        *,
        num_classes: int = 7,
        width_mult: float = 1.0,
        dropout: float = 0.2,
        map_location: torch.device | str = "cpu",
    ) -> MobileNetV2FaceModel:
        """Build the model and load a state dict saved with ``torch.save(model.state_dict())``.

        Accepts this class's own state dict, or a bare torchvision ``mobilenet_v2`` state dict
        (keys without the ``net.`` prefix) whose classifier has ``num_classes`` outputs. The
        file is read with ``torch.load(weights_only=True)``: no code in it is run.

        Args:
            path: Local file path.
            num_classes: As in the constructor.
            width_mult: As in the constructor.
            dropout: As in the constructor.
            map_location: Device to load the tensors onto.

        Returns:
            The model, in eval mode.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If the file is not a state dict for this architecture (the message
                names the file and the missing / unexpected / mis-shaped keys).
        """
        model = cls(num_classes, width_mult=width_mult, dropout=dropout)
        file, tensors = read_state_dict(path, "face-model", map_location=map_location)
        if not any(k.startswith("net.") for k in tensors):
            tensors = {f"net.{k}": v for k, v in tensors.items()}
            tensors.setdefault("mean", model.mean)
            tensors.setdefault("std", model.std)
        load_strict(model, tensors, file, "face-model")
        return model.eval()

    def extra_repr(self) -> str:
        """Show the settings."""
        return (
            f"num_classes={self.num_classes}, width_mult={self.width_mult}, "
            f"dropout={self.dropout_p}"
        )


@torch.no_grad()
def frame_probabilities(
    model: FrameEmotionModel, frames: Tensor, *, batch_size: int = 256, validate: bool = True
) -> Tensor:
    """Run a face model over many frames in chunks and return softmax probabilities.

    Args:
        model: A [FrameEmotionModel][] (put it in eval mode first).
        frames: Face frames, values in ``[0, 1]``.
        batch_size: Frames per forward pass (>= 1).
        validate: Check that the frames are finite and in ``[0, 1]`` (a device sync on CUDA).

    Shape:
        - frames: ``(n, channels, height, width)``; output ``(n, classes)``, float32.

    Returns:
        The per-frame expression probabilities, ready for
        [sertoolkit.pooling.pool_frames][] after a reshape to ``(batch, frames, classes)``.

    Raises:
        TypeError: If ``model`` is not callable.
        ValueError: On malformed frames (with ``validate``, values outside ``[0, 1]``) or a
            bad ``batch_size``.
    """
    if not callable(model):
        raise TypeError(f"Expected `model` to be callable, but got {type(model).__name__}.")
    check_rank("frames", frames, 4, "(n, channels, height, width)")
    check_floating("frames", frames)
    check_in_range("frames", frames, 0.0, 1.0, validate=validate)
    check_positive_int("batch_size", batch_size)
    starts = range(0, max(frames.shape[0], 1), batch_size)  # an empty batch runs once
    return torch.cat([model(frames[i : i + batch_size]).float().softmax(dim=-1) for i in starts])
