"""``rnnlab train`` / ``eval`` / ``run``: run folders, resuming, and clear errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from rnnlab.cli import main


def read_rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def train(tmp_path, *extra):
    return main(["train", "sine", "--epochs", "2", "--hidden", "8", "--param", "samples=128",
                 "--out", str(tmp_path / "run"), *extra])


def test_train_writes_a_complete_run_folder(tmp_path, capsys):
    assert train(tmp_path) == 0
    out = capsys.readouterr().out
    assert "stopped: finished" in out and "val_mse" in out
    run = tmp_path / "run"
    rows = read_rows(run / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert list(rows[0]) == ["epoch", "step", "train_loss", "val_loss", "val_mse"]
    assert all(np.isfinite(float(r["val_loss"])) for r in rows)
    for name in ("last.safetensors", "best.safetensors", "config.json"):
        assert (run / name).is_file()
    from PyQt6.QtGui import QImage

    img = QImage(str(run / "report.png"))
    assert img.width() >= 1000 and img.height() >= 600
    colours = {img.pixel(x, y) for x in range(0, img.width(), 7)
               for y in range(0, img.height(), 7)}
    assert len(colours) > 50


def test_eval_and_resume(tmp_path, capsys):
    assert train(tmp_path, "--no-report") == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "val_loss" in out and "task sine" in out
    assert main(["train", "sine", "--out", str(tmp_path / "run"), "--resume", "--epochs", "3",
                 "--no-report"]) == 0
    rows = read_rows(tmp_path / "run" / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]


@pytest.mark.parametrize("args, message", [
    (["train", "nosuch"], "unknown task 'nosuch'; expected one of: adding"),
    (["train", "sine", "--cell", "nosuch"], "unknown cell 'nosuch'; expected one of:"),
    (["train", "sine", "--lr", "-1"], "lr: expected a number > 0, got -1.0"),
    (["train", "sine", "--param", "length=5000"], "length: expected int in [10, 200]"),
    (["train", "sine", "--param", "length"], "--param: expected NAME=VALUE"),
    (["eval", "/nonexistent/run"], "got nothing at that path"),
])
def test_bad_arguments_give_clear_errors(tmp_path, capsys, args, message):
    if args[0] == "train":
        args = [*args, "--out", str(tmp_path / "r")]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", "sine", "--out", str(blocker / "run")]) == 2
    assert "--out: expected a writable folder" in capsys.readouterr().err


def test_resume_without_checkpoint(tmp_path, capsys):
    assert main(["train", "sine", "--out", str(tmp_path), "--resume"]) == 2
    assert "--resume: expected a checkpoint" in capsys.readouterr().err


def test_resume_may_change_lr_and_limits_but_not_the_model(tmp_path, capsys):
    assert train(tmp_path, "--no-report") == 0
    run = str(tmp_path / "run")
    assert main(["train", "sine", "--out", run, "--resume", "--cell", "gru"]) == 2
    assert "expected only --epochs" in capsys.readouterr().err
    assert main(["train", "sine", "--out", run, "--resume", "--epochs", "3", "--lr", "0.001",
                 "--no-report"]) == 0
    from rnnlab.engine.train import Trainer

    resumed = Trainer.load(tmp_path / "run" / "last.safetensors")
    assert resumed.config.lr == 0.001 and resumed.optimizer.lr == 0.001


def test_a_folder_holding_another_run_is_not_mixed(tmp_path, capsys):
    assert train(tmp_path, "--no-report") == 0
    capsys.readouterr()
    assert train(tmp_path, "--no-report", "--cell", "gru") == 2
    assert "already holds a run" in capsys.readouterr().err
    assert train(tmp_path, "--no-report", "--cell", "gru", "--force") == 0
    import json

    assert json.loads((tmp_path / "run" / "config.json").read_text())["cell"] == "gru"


def test_bidirectional_can_be_switched_off(tmp_path, capsys):
    args = ["train", "sentiment", "--epochs", "1", "--param", "samples=40", "--no-report",
            "--out", str(tmp_path / "s")]
    assert main([*args, "--no-bidirectional"]) == 0
    import json

    assert json.loads((tmp_path / "s" / "config.json").read_text())["bidirectional"] is False


def test_non_finite_task_parameter_is_refused(tmp_path, capsys):
    assert main(["train", "sine", "--param", "noise=NaN", "--out", str(tmp_path / "r")]) == 2
    assert "noise: expected a finite float, got nan" in capsys.readouterr().err


def test_a_run_that_diverges_ends_cleanly(tmp_path, capsys):
    args = ["train", "sine", "--cell", "rnn_relu", "--clip", "0", "--lr", "1", "--seed", "1",
            "--optimizer", "sgd", "--hidden", "8", "--param", "samples=200", "--epochs", "6",
            "--out", str(tmp_path / "n")]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "stopped: non_finite" in out and "run folder" in out
