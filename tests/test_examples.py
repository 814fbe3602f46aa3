"""The scripts in examples/ run with tiny settings and reach their lessons' results; the
code blocks of the user guides run as written."""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# pure-Python kernels (NUMBA_DISABLE_JIT=1) make training runs minutes instead of seconds
slow = pytest.mark.slow


def example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested():
    tested = {"sine_prediction", "char_classification", "bidirectional_sentiment",
              "gradient_clipping", "many_to_many_labelling", "load_pytorch_weights"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


@slow
def test_sine_prediction_beats_the_constant_guess(capsys):
    mse = example("sine_prediction").main(
        ["--samples", "400", "--length", "30", "--hidden", "16", "--epochs", "6"])
    assert mse < 0.03  # predicting 0 scores 0.5
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch")]
    train = [float(ln.split("train MSE")[1].split()[0]) for ln in lines]
    assert len(train) == 6 and train[-1] < 0.1 * train[0]


@slow
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_char_classification_far_above_chance(cell, capsys):
    acc = example("char_classification").main(
        ["--cell", cell, "--hidden", "16", "--epochs", "3"])
    assert acc > 0.6  # chance is 0.25
    assert "final validation accuracy" in capsys.readouterr().out


@slow
def test_bidirectional_sentiment_reversal_and_both_directions_help(capsys):
    acc = example("bidirectional_sentiment").main(["--hidden", "16"])
    assert set(acc) == {"forward", "reversed", "bidirectional"}
    assert acc["reversed"] > 0.85 and acc["bidirectional"] > 0.8
    assert acc["forward"] < min(acc["reversed"], acc["bidirectional"]) - 0.2
    out = capsys.readouterr().out
    assert 'reversed: e.g. "overall dreadful rather not was meal my"' in out


@slow
def test_gradient_clipping_shows_the_explosion_and_bounds_the_updates(capsys):
    r = example("gradient_clipping").main(
        ["--steps", "3", "--batch-size", "8"])
    assert r["grad_h_ratio"] > 1e3                      # ||dL/dh_0|| >> ||dL/dh_T-1||
    assert r["grad_norm_clipped"] <= 1.0 + 1e-6
    assert r["grad_norm_unclipped"] > 1e3 * r["grad_norm_clipped"]
    assert r["weight_norm_unclipped"] > 100 * r["weight_norm_clipped"]
    out = capsys.readouterr().out
    assert "Part 1" in out and "Part 2" in out


@slow
def test_many_to_many_labelling_ignores_padding(capsys):
    acc = example("many_to_many_labelling").main(
        ["--samples", "400", "--hidden", "16", "--epochs", "3"])
    assert acc > 0.9
    assert "over" in capsys.readouterr().out


def test_load_pytorch_weights_from_committed_files(capsys):
    worst = example("load_pytorch_weights").main(["--no-torch"])
    assert 0 <= worst < 1e-5
    assert "torch_lstm.safetensors" in capsys.readouterr().out


@slow
def test_load_pytorch_weights_with_torch(capsys):
    pytest.importorskip("torch")
    worst = example("load_pytorch_weights").main(["--hidden", "6", "--length", "5"])
    assert 0 <= worst < 1e-5 and math.isfinite(worst)
    out = capsys.readouterr().out
    assert "dL/dweight_hh_l1_reverse" in out


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.stem)
def test_example_is_a_lesson_and_a_script(path):
    module = example(path.stem)
    assert module.__doc__ and module.__doc__.strip().splitlines()[0].endswith(".")
    assert list(inspect.signature(module.main).parameters) == ["argv"]
    assert path.read_text().rstrip().endswith('if __name__ == "__main__":\n    main()')


@pytest.fixture
def keep_thread_settings():
    """The guides call ``rl.set_threads``; put Numba's and every BLAS's count back after."""
    import numba
    import scipy.linalg.cython_blas  # noqa: F401  (loaded first, so it is restored too)
    from threadpoolctl import threadpool_limits

    n = numba.get_num_threads()
    with threadpool_limits(limits=None):
        yield
    numba.set_num_threads(n)


def python_blocks(doc: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / "docs" / doc).read_text(),
                      re.S | re.M)


@pytest.mark.parametrize("doc", ["../README.md", "scripting.md",
                                 pytest.param("training.md", marks=slow)])
def test_guide_code_blocks_run_in_order(doc, tmp_path, monkeypatch, keep_thread_settings):
    blocks = python_blocks(doc)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{doc} block {i + 1}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{doc}: block {i + 1} failed:\n{block}") from exc
