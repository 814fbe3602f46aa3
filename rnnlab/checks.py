"""The checks behind ``rnnlab plugins check``: contract, then behaviour.

- cells: the contract, float64 finite-difference gradient checks (layers, directions,
  lengths, ``batch_first``, no bias) and the sequence-equals-loop-of-steps check from
  :mod:`rnnlab.testing`;
- tasks: :func:`task_check` (data shapes match the spec, the default loss and metrics run
  on random predictions, seeded data is reproducible and depends on the seed).

:func:`check_target` checks a registered name or a path (a single-file plugin, a folder
of them, or a plugin project with a ``pyproject.toml``) and never raises for a plugin's
fault: every problem becomes a failed :class:`Stage`.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from .engine import contract, registry
from .engine.task import Dataset, Split, Task, TaskSpec

__all__ = ["PluginCheck", "Stage", "check_plugin", "check_target", "task_check"]


# tasks -----------------------------------------------------------------------------------
def _task_instance(task, params) -> Task:
    if isinstance(task, Task):
        if params:
            raise TypeError("task parameters must be given to the task instance, not here")
        return task
    if isinstance(task, str):
        task = registry.get_task(task)
    if isinstance(task, type) and issubclass(task, Task):
        return task(**params)
    raise TypeError(f"task: expected a registered name, a Task subclass or instance, "
                    f"got {task!r}")


def _fail(label: str, stage: str, message: str):
    raise AssertionError(f"{label}: stage {stage!r}: {message}")


def _check_split(label: str, stage: str, split, spec: TaskSpec) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            _fail(label, stage, message)

    need(isinstance(split, Split), f"expected a Split, got {type(split).__name__}")
    x, y, lengths = split.x, split.y, split.lengths
    need(isinstance(x, np.ndarray) and isinstance(y, np.ndarray),
         f"expected numpy arrays x and y, got {type(x).__name__} and {type(y).__name__}")
    need(x.ndim >= 2 and x.shape[0] >= 1,
         f"x: expected at least one sequence (N, T, ...), got shape {x.shape}")
    N, T = x.shape[:2]
    need(T >= 1, f"x: expected at least one timestep, got shape {x.shape}")
    if spec.vocab_size is not None:
        need(x.shape == (N, T) and np.issubdtype(x.dtype, np.integer),
             f"x: expected token ids of shape (N, T) and an integer dtype (vocab_size is set), "
             f"got shape {x.shape} and dtype {x.dtype}")
        need(x.min() >= 0 and x.max() < spec.vocab_size,
             f"x: expected token ids in [0, {spec.vocab_size}), got {x.min()}..{x.max()}")
    else:
        need(x.shape == (N, T, spec.input_size) and np.issubdtype(x.dtype, np.floating),
             f"x: expected floats of shape (N, T, {spec.input_size}), got shape {x.shape} "
             f"and dtype {x.dtype}")
        need(bool(np.isfinite(x).all()), "x: expected finite values, got NaN or Inf")
    if lengths is not None:
        need(isinstance(lengths, np.ndarray) and lengths.shape == (N,)
             and np.issubdtype(lengths.dtype, np.integer),
             f"lengths: expected integers of shape ({N},), got {lengths!r:.80}")
        need(lengths.min() >= 1 and lengths.max() <= T,
             f"lengths: expected values in 1..{T}, got {lengths.min()}..{lengths.max()}")
    O = spec.output_size
    if spec.kind == "regression":
        want = (N, T, O) if spec.per_step else (N, O)
        need(y.shape == want and np.issubdtype(y.dtype, np.floating),
             f"y: expected floats of shape {want}, got shape {y.shape} and dtype {y.dtype}")
        need(bool(np.isfinite(y).all()), "y: expected finite values, got NaN or Inf")
        return
    want = (N, T) if spec.kind == "labelling" else (N,)
    need(y.shape == want and np.issubdtype(y.dtype, np.integer),
         f"y: expected class ids of shape {want}, got shape {y.shape} and dtype {y.dtype}")
    valid = y[y != spec.ignore_index]
    need(valid.size > 0, f"y: expected some class ids, got only ignore_index {spec.ignore_index}")
    need(valid.min() >= 0 and valid.max() < O,
         f"y: expected class ids in [0, {O}), got {valid.min()}..{valid.max()}")


def _pred_shape(split: Split, spec: TaskSpec) -> tuple[int, ...]:
    N, T = split.x.shape[:2]
    if spec.kind == "classification":
        return (N, spec.output_size)
    if spec.per_step:
        return (N, T, spec.output_size)
    return (N, spec.output_size)


def _same_data(a: Dataset, b: Dataset) -> bool:
    def arrays(d: Dataset):
        for s in (d.train, d.val):
            yield s.x
            yield s.y
            yield s.lengths

    return all((u is None and v is None) or (u is not None and v is not None
                                             and u.shape == v.shape and np.array_equal(u, v))
               for u, v in zip(arrays(a), arrays(b)))


def task_check(task, *, seed: int = 0, other_seed: int = 1, **params) -> dict[str, object]:
    """Check a task's data, loss and metrics; raises ``AssertionError`` naming the stage.

    ``task`` is a registered name, a Task subclass (built with ``params``) or an instance.
    Stages: ``"contract"``, ``"make_data"``, ``"shapes (train)"``, ``"shapes (val)"``,
    ``"reproducible"``, ``"seed"`` (another seed gives other data), ``"loss"`` and
    ``"metrics"`` (on random predictions of the right shape). Returns the loss value and
    the metrics of those predictions.
    """
    t = _task_instance(task, params)
    label = f"task_check({t.name!r})"
    problems = contract.validate(type(t))
    if problems:
        _fail(label, "contract", "; ".join(problems))
    spec = t.spec()
    data = t.make_data(seed)
    if not isinstance(data, Dataset):
        _fail(label, "make_data", f"expected a Dataset, got {type(data).__name__}")
    _check_split(label, "shapes (train)", data.train, spec)
    _check_split(label, "shapes (val)", data.val, spec)
    if not _same_data(data, t.make_data(seed)):
        _fail(label, "reproducible", f"make_data({seed}) returned different data when "
                                     "called again")
    if _same_data(data, t.make_data(other_seed)):
        _fail(label, "seed", f"make_data({other_seed}) returned the same data as "
                             f"make_data({seed})")
    split = data.val
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal(_pred_shape(split, spec)).astype(np.float32)
    loss_fn = t.loss()
    value = loss_fn(pred, split.y)
    if not np.isfinite(value):
        _fail(label, "loss", f"expected a finite loss on random predictions, got {value}")
    grad = loss_fn.backward()
    if np.shape(grad) != pred.shape or not np.isfinite(grad).all():
        _fail(label, "loss", f"backward(): expected finite values of shape {pred.shape}, "
                             f"got {np.shape(grad)}")
    metrics = t.metrics(pred, split.y, split.lengths)
    ok = isinstance(metrics, dict) and metrics and all(
        isinstance(k, str) and isinstance(v, (int, float, np.floating)) and np.isfinite(v)
        for k, v in metrics.items())
    if not ok:
        _fail(label, "metrics", f"expected a non-empty dict of name -> finite number, "
                                f"got {metrics!r:.200}")
    return {"loss": float(value), "metrics": dict(metrics)}


# plugins ---------------------------------------------------------------------------------
@dataclass
class Stage:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class PluginCheck:
    """The outcome of checking one plugin: its record and every stage run."""

    plugin: registry.Plugin
    stages: list[Stage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.stages) and all(s.ok for s in self.stages)


#: (stage name, keyword arguments) of the cell checks: tiny, float64, all features
CELL_GRADIENT_CHECKS = (
    ("gradient_check (2 layers, bidirectional, lengths)",
     dict(num_layers=2, bidirectional=True, lengths="random", input_size=3, hidden_size=3,
          seq_len=4, batch=3)),
    ("gradient_check (batch_first, no bias)",
     dict(batch_first=True, bias=False, input_size=2, hidden_size=3, seq_len=3, batch=2)),
)
CELL_LOOP_CHECK = ("step_loop_check (lengths)",
                   dict(lengths="random", input_size=3, hidden_size=3, seq_len=4, batch=3))


def _run_stage(name: str, fn: Callable[[], str | None]) -> Stage:
    try:
        detail = fn()
    except AssertionError as exc:
        return Stage(name, False, str(exc))
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return Stage(name, False, f"raised {type(exc).__name__}: {exc} "
                                  f"({Path(where.filename).name}:{where.lineno})")
    return Stage(name, True, detail or "")


def _max_error(errors: dict[str, float]) -> str:
    return f"max error {max(errors.values(), default=0.0):.2g}"


def _task_detail(cls) -> str:
    out = task_check(cls)
    metrics = ", ".join(f"{k} {v:.3g}" for k, v in out["metrics"].items())
    return f"on random predictions: loss {out['loss']:.3g}, {metrics}"


def check_plugin(plugin: registry.Plugin) -> PluginCheck:
    """Run every check on one discovered plugin (stages that fail do not stop the rest)."""
    result = PluginCheck(plugin)
    if plugin.status != "ok":
        result.stages.append(Stage("load", False, plugin.error or plugin.status))
        return result
    result.stages.append(Stage("contract", True))
    cls = plugin.obj
    if plugin.kind == "cell":
        from .testing import gradient_check, step_loop_check

        for name, kw in CELL_GRADIENT_CHECKS:
            result.stages.append(
                _run_stage(name, lambda kw=kw: _max_error(gradient_check(cls, **kw))))
        name, kw = CELL_LOOP_CHECK
        result.stages.append(_run_stage(name, lambda: _max_error(step_loop_check(cls, **kw))))
    else:
        result.stages.append(_run_stage("task_check", lambda: _task_detail(cls)))
    return result


def _is_path(target: str) -> bool:
    if target.endswith(".py") or any(sep in target for sep in ("/", "\\")) or target in (".", ".."):
        return True
    return Path(target).exists() and target not in {r.name for r in registry.plugins()}


def resolve_target(target: str) -> list[registry.Plugin]:
    """Plugin records for a registered name or a path (nothing disabled, nothing cached)."""
    if not _is_path(target):
        found = [r for r in registry.plugins() if r.name == target]
        if any(r.status == "disabled" for r in found):
            found = [r for r in registry.discover(disabled=set()) if r.name == target]
        return found
    path = Path(target)
    if not path.exists():
        raise FileNotFoundError(f"expected a plugin name, a .py file or a folder, got "
                                f"{target!r} (no such file or folder)")
    if path.is_dir() and (path / "pyproject.toml").is_file():
        return registry.load_candidates(project_candidates(path))
    return registry.load_candidates(registry.file_candidates([path]))


def project_candidates(root: Path) -> list:
    """Entry points a plugin project declares, importable from its ``src`` (or root)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise RuntimeError("checking a plugin project needs Python 3.11 or newer (tomllib); "
                           "install it and check the plugin by name") from None

    with open(root / "pyproject.toml", "rb") as f:
        project = tomllib.load(f).get("project", {})
    eps = project.get("entry-points", {}).get(registry.GROUP, {})
    if not eps:
        raise ValueError(f"{root / 'pyproject.toml'}: expected a "
                         f"[project.entry-points.\"{registry.GROUP}\"] table, found none")
    src = root / "src" if (root / "src").is_dir() else root
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    source = str(project.get("name", root.name))
    version = str(project.get("version", "-"))

    def candidate(name: str, value: str):
        ep = metadata.EntryPoint(name, value, registry.GROUP)
        return registry.Candidate(name, version, source, value,
                                  lambda: [(value, ep.load())], expect_name=name)

    return [candidate(n, v) for n, v in eps.items()]


def check_target(target: str) -> list[PluginCheck]:
    """Check every plugin ``target`` names; a target naming nothing gives one failed check."""
    try:
        records = resolve_target(target)
    except Exception as exc:
        records = [registry.Plugin(target, "", "-", target, "error", f"{exc}")]
    if not records:
        known = ", ".join(sorted({r.name for r in registry.plugins()})) or "none"
        records = [registry.Plugin(target, "", "-", "-", "error",
                                   f"no plugin named {target!r}; known plugins: {known}")]
    return [check_plugin(r) for r in records]
