"""Every built-in task trained with its reference settings reaches its stated result, and the
lessons' contrasts hold (bidirection/reversal, clipping-free gradient explosion, vanishing)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from rnnlab.engine.events import Evaluated, Snapshot, StepDone, Stopped
from rnnlab.engine.train import TrainConfig, Trainer
from rnnlab.plugins.tasks import BUILTIN_TASKS, GradFlowTask, SentimentTask

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """These models are tiny: extra BLAS threads only add synchronisation (10x slower on a
    busy 2-core machine). Numba's ``np.dot`` calls SciPy's BLAS, which must be loaded for
    threadpoolctl to limit it."""
    import scipy.linalg.cython_blas  # noqa: F401

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def run(task: str, **settings):
    """Train to the end; return the last evaluation, every step's gradient norm and the
    last snapshot."""
    trainer = Trainer(TrainConfig.for_task(task, **settings))
    last = snap = None
    grad_norms = []
    for ev in trainer.run():
        if isinstance(ev, Evaluated):
            last = ev
        elif isinstance(ev, StepDone):
            grad_norms.append(ev.grad_norm)
        elif isinstance(ev, Snapshot):
            snap = ev
        elif isinstance(ev, Stopped):
            assert ev.reason == "finished", ev.message
    return last, np.array(grad_norms), snap


@pytest.mark.parametrize("cls", [c for c in BUILTIN_TASKS if c.reference["metric"] != "grad_norm"],
                         ids=lambda c: c.name)
def test_reaches_reference(cls):
    ref = cls.reference
    last, _, _ = run(cls.name, **ref["settings"])
    value = last.metrics[ref["metric"]]
    if "below" in ref:
        assert value < ref["below"], f"{cls.name}: {ref['metric']} = {value}"
    else:
        assert value > ref["above"], f"{cls.name}: {ref['metric']} = {value}"


def test_gradflow_gradients_explode_with_large_init():
    ref = GradFlowTask.reference
    _, norms, _ = run("gradflow", **ref["settings"])
    assert np.isfinite(norms).all()
    assert norms.max() > ref["above"]


def test_gradflow_gradients_vanish_with_unit_init():
    _, norms, snap = run("gradflow", init_scale=1.0, max_steps=3, snapshot_every=1)
    assert norms.max() < 10
    g = snap.layers[0]["grad_h_norm"]
    assert g[-1] > 0 and g[0] < 1e-6 * g[-1]


def test_sentiment_forward_only_fails_where_reversal_succeeds():
    settings = dict(SentimentTask.reference["settings"], bidirectional=False)
    forward, _, _ = run("sentiment", **settings)
    assert forward.metrics["val_accuracy"] < 0.7
    reversed_, _, _ = run("sentiment", **dict(settings, epochs=8,
                                               task_params={"samples": 1000, "reverse": True}))
    assert reversed_.metrics["val_accuracy"] > 0.95


def test_adding_vanilla_rnn_stays_near_baseline_at_length_50():
    last, _, _ = run("adding", cell="rnn_tanh", epochs=12, task_params={"length": 50})
    assert last.metrics["val_baseline_ratio"] > 0.6
