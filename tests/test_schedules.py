from __future__ import annotations

import math
import pickle

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sertoolkit.schedules import PaperSchedule, paper_lr_scheduler


def test_paper_values_per_epoch():
    s = PaperSchedule(steps_per_epoch=1)
    assert [s.lr(e) for e in range(4)] == pytest.approx([0.0025, 0.004375, 0.00625, 0.008125])
    assert [s.lr(e) for e in range(4, 8)] == pytest.approx([0.01] * 4)
    assert s.lr(8) == pytest.approx(0.01 / 1.17)
    assert s.lr(12) == pytest.approx(0.01 / 1.17**2)
    assert s.lr(49) == pytest.approx(0.01 / 1.17**11)


@given(st.integers(1, 50), st.integers(0, 5000))
def test_schedule_is_step_based_and_shaped(spe, step):
    s = PaperSchedule(steps_per_epoch=spe)
    lr = s.lr(step)
    assert 0.0 < lr <= 0.01 + 1e-15
    epoch = step / spe
    if epoch < 4:
        assert lr == pytest.approx(0.0025 + 0.0075 * epoch / 4)
    else:
        assert lr == pytest.approx(0.01 / 1.17 ** math.floor((epoch - 4) / 4))
    assert s(step) == pytest.approx(lr / 0.01)


@given(st.integers(1, 20))
def test_schedule_monotone_up_then_down(spe):
    s = PaperSchedule(steps_per_epoch=spe)
    lrs = [s.lr(i) for i in range(60 * spe)]
    peak = 4 * spe
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1 : peak + 1]))
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1 :]))


def test_lambda_lr_integration_and_pickle():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adamax(model.parameters(), lr=123.0)
    sched = paper_lr_scheduler(opt, PaperSchedule(steps_per_epoch=2))
    seen = []
    for _ in range(20):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    ref = PaperSchedule(steps_per_epoch=2)
    assert seen == pytest.approx([ref.lr(i) for i in range(20)])
    state = sched.state_dict()
    assert pickle.loads(pickle.dumps(state))["last_epoch"] == 20
