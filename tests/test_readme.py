"""The README's example runs, and CI runs the README's commands verbatim."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _blocks(lang: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_readme_example_runs():
    (code,) = _blocks("python")
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    loss = namespace["loss_u"]
    assert isinstance(loss, torch.Tensor)
    assert loss.shape == ()
    assert torch.isfinite(loss) and loss > 0
    for name in ("ff1", "ff2"):  # the example shows rules that keep some clips, not none
        kept = int(namespace[name].mask.sum())  # type: ignore[attr-defined]
        assert 0 < kept < 32, (name, kept)


def test_readme_has_two_setup_commands_that_ci_runs_verbatim():
    commands = [b.strip() for b in _blocks("bash")]
    assert len(commands) == 2
    main_job, tests = commands
    assert "benchmarks/reproduce_paper.py" in main_job
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()  # CI proves the README's test command verbatim


def test_package_ships_py_typed_and_public_names():
    import sertoolkit

    assert (Path(sertoolkit.__file__).parent / "py.typed").is_file()
    for module in sertoolkit.__all__:
        if module == "__version__":
            continue
        mod = getattr(sertoolkit, module)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants and type aliases
            assert getattr(obj, "__doc__", None), f"{module}.{name} has no docstring"


def test_docs_training_step_example_runs():
    text = (ROOT / "docs" / "pages" / "fusion.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2  # the step written out, then the cmkt_ssl_loss fast path
    ns: dict[str, object] = {}
    for code in blocks:  # the second block builds on the first one's imports and rules
        exec(compile(code, "fusion.md", "exec"), ns)
    assert torch.isfinite(ns["step"].loss)  # type: ignore[attr-defined]
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(80 * 64, 3))
    opt = torch.optim.Adamax(model.parameters())
    x_l, x_u = torch.randn(8, 80, 64, generator=g), torch.randn(8, 80, 64, generator=g)
    y_l = torch.randint(0, 3, (8,), generator=g)
    faces = torch.rand(8, 5, 3, generator=g).softmax(-1)
    face_mask = torch.rand(8, 5, generator=g) > 0.2
    for rule in (ns["ff1"], ns["ff2"]):
        loss = ns["train_step"](model, opt, rule, x_l, y_l, x_u, faces, face_mask, generator=g)  # type: ignore[operator]
        assert torch.isfinite(loss)
