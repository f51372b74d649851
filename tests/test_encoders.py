"""TransformerSER and the face-expression model."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sertoolkit.encoders import (
    FrameEmotionModel,
    MobileNetV2FaceModel,
    TransformerSER,
    frame_probabilities,
    sinusoidal_positions,
)


def small_model(input_dim: int = 12, classes: int = 3, **kw: object) -> TransformerSER:
    torch.manual_seed(0)
    return TransformerSER(
        input_dim, classes, d_model=16, num_heads=4, num_layers=2, dim_feedforward=32, **kw
    )


@st.composite
def padded_inputs(draw: st.DrawFn):
    batch = draw(st.integers(1, 5))
    time = draw(st.integers(1, 24))
    lengths = draw(st.lists(st.integers(0, time), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 10**6))
    x = torch.randn(batch, time, 12, generator=torch.Generator().manual_seed(seed))
    return x, torch.tensor(lengths)


@pytest.mark.parametrize("norm_first", [True, False])
@settings(max_examples=25)
@given(data=padded_inputs())
def test_padded_batch_equals_each_example_alone(norm_first, data):
    x, lengths = data
    model = small_model(norm_first=norm_first).eval()
    batched = model(x, lengths)
    assert torch.isfinite(batched).all()
    for i, n in enumerate(lengths.tolist()):
        if n == 0:
            continue
        alone = model(x[i : i + 1, :n])
        torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-5, rtol=1e-4)
        # garbage in the padding changes nothing
    poisoned = x.clone()
    for i, n in enumerate(lengths.tolist()):
        poisoned[i, n:] = 1e4
    torch.testing.assert_close(model(poisoned, lengths), batched, atol=1e-5, rtol=1e-4)


@settings(max_examples=20)
@given(
    batch=st.integers(0, 4),
    time=st.integers(1, 30),
    dim=st.integers(1, 20),
    classes=st.integers(1, 6),
)
def test_output_shapes(batch, time, dim, classes):
    model = small_model(dim, classes).eval()
    out = model(torch.randn(batch, time, dim))
    assert out.shape == (batch, classes)
    assert model.embed(torch.randn(batch, time, dim)).shape == (batch, 16)


def test_gradients_reach_every_parameter():
    model = small_model().train()
    x = torch.randn(3, 10, 12)
    model(x, torch.tensor([10, 4, 1])).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.count_nonzero(p.grad) > 0, name


def test_eval_is_deterministic_and_train_is_stochastic():
    model = small_model(dropout=0.3)
    x = torch.randn(2, 8, 12)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_all_padding_example_gives_finite_logits_and_zero_embedding():
    model = small_model().eval()
    x = torch.randn(2, 6, 12)
    z = model.embed(x, torch.tensor([0, 6]))
    assert torch.equal(z[0], torch.zeros(16))
    assert torch.isfinite(model(x, torch.tensor([0, 0]))).all()


def test_paper_defaults():
    model = TransformerSER(512, 4)
    assert (model.d_model, model.num_heads, model.num_layers) == (512, 8, 8)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears  # every block uses dropout 0.1
    assert all(m.p == 0.1 for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_bf16_autocast_runs():
    model = small_model().eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 8, 12), torch.tensor([8, 3]))
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out.float()).all()


def test_compiles_fullgraph_on_cpu():
    torch._dynamo.reset()
    model = small_model().train()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(3, 10, 12)
    lengths = torch.tensor([10, 4, 0])
    out = compiled(x, lengths, validate=False)
    assert out.shape == (3, 3)
    assert torch.isfinite(out).all()


def test_sinusoidal_positions_formula():
    pe = sinusoidal_positions(7, 6)
    for t in range(7):
        for i in range(3):
            angle = t / 10000 ** (2 * i / 6)
            assert pe[t, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[t, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_input_checks():
    model = small_model()
    with pytest.raises(ValueError, match="Expected `x`"):
        model(torch.randn(2, 5, 11))
    with pytest.raises(ValueError, match="Expected `lengths`"):
        model(torch.randn(2, 5, 12), torch.tensor([5]))
    with pytest.raises(ValueError, match="Expected `d_model`"):
        TransformerSER(4, 2, d_model=30, num_heads=8)
    with pytest.raises(ValueError, match="Expected `dropout`"):
        TransformerSER(4, 2, dropout=1.0)
    with pytest.raises(ValueError, match="Expected `dim`"):
        sinusoidal_positions(3, 5)


# --- face model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def face_model() -> MobileNetV2FaceModel:
    torch.manual_seed(0)
    return MobileNetV2FaceModel(width_mult=0.35).eval()


def test_face_model_contract(face_model):
    assert isinstance(face_model, FrameEmotionModel)
    assert face_model(torch.rand(5, 3, 64, 64)).shape == (5, 7)
    grey = torch.rand(2, 1, 48, 48)
    torch.testing.assert_close(face_model(grey), face_model(grey.expand(-1, 3, -1, -1)))
    with pytest.raises(ValueError, match="Expected `frames`"):
        face_model(torch.rand(2, 2, 48, 48))


def test_frame_probabilities_chunks_agree(face_model):
    frames = torch.rand(10, 3, 40, 40)
    a = frame_probabilities(face_model, frames, batch_size=3)
    b = frame_probabilities(face_model, frames, batch_size=100)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a.sum(1), torch.ones(10))
    assert frame_probabilities(face_model, frames[:0]).shape == (0, 7)


def test_checkpoint_round_trip_is_exact(face_model, tmp_path):
    path = tmp_path / "face.pt"
    torch.save(face_model.state_dict(), path)
    loaded = MobileNetV2FaceModel.from_checkpoint(path, width_mult=0.35)
    frames = torch.rand(4, 3, 56, 56)
    assert torch.equal(loaded(frames), face_model(frames))
    assert not loaded.training


def test_bare_torchvision_state_dict_loads(face_model, tmp_path):
    path = tmp_path / "bare.pth"
    torch.save(face_model.net.state_dict(), path)
    loaded = MobileNetV2FaceModel.from_checkpoint(path, width_mult=0.35)
    frames = torch.rand(2, 3, 56, 56)
    assert torch.equal(loaded(frames), face_model(frames))


def test_checkpoint_errors_name_the_file(face_model, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        MobileNetV2FaceModel.from_checkpoint(tmp_path / "nope.pt")
    path = tmp_path / "five.pt"
    torch.save(MobileNetV2FaceModel(5, width_mult=0.35).state_dict(), path)
    with pytest.raises(ValueError, match=r"five\.pt.*mis-shaped.*classifier"):
        MobileNetV2FaceModel.from_checkpoint(path, width_mult=0.35)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt"):
        MobileNetV2FaceModel.from_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match=r"other\.pt.*missing keys"):
        MobileNetV2FaceModel.from_checkpoint(other, width_mult=0.35)


def test_empty_batches_and_length_checks():
    model = small_model().eval()
    assert model(torch.zeros(0, 5, 12), torch.zeros(0, dtype=torch.long)).shape == (0, 3)
    out = model(torch.zeros(2, 0, 12), torch.tensor([0, 0]))
    assert out.shape == (2, 3)
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="Expected `lengths`"):
        model(torch.zeros(2, 5, 12), torch.tensor([9, 3]))


def test_every_linear_map_is_followed_by_dropout():
    model = small_model(dropout=0.2)
    layer = model.encoder.layers[0]
    assert isinstance(model.input_dropout, torch.nn.Dropout)
    assert layer.self_attn.dropout == 0.0  # attention weights are not a linear map
    assert small_model(attention_dropout=0.3).encoder.layers[1].self_attn.dropout == 0.3
    assert layer.dropout1.p == layer.dropout.p == layer.dropout2.p == 0.2  # attention out, FF
    assert isinstance(model.head[2], torch.nn.Dropout)  # hidden layer of the MLP head


@pytest.mark.parametrize("poison", [float("nan"), float("inf"), -float("inf"), 1e30, -3e38])
@settings(max_examples=15, deadline=None)
@given(data=padded_inputs())
def test_non_finite_padding_never_reaches_the_output(poison, data):
    # issue #13: `x[0, 4:] = 1e30; model(x, tensor([4]))` gave NaN logits. Whatever the padding
    # holds, the output is exactly that of zero padding
    x, lengths = data
    model = small_model().eval()
    zero_padded = x.clone()
    poisoned = x.clone()
    for i, n in enumerate(lengths.tolist()):
        zero_padded[i, n:] = 0.0
        poisoned[i, n:] = poison
    out = model(poisoned, lengths)
    assert torch.isfinite(out).all()
    assert torch.equal(out, model(zero_padded, lengths))
