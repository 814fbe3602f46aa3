"""Contract validation for plugin classes: attributes, method signatures and cheap hooks.

:func:`validate` returns a list of problems (empty when the class fulfils its contract). It
never runs kernels or builds data: besides reading attributes it only calls the hooks a
plugin must keep cheap (a cell's constructor, ``param_specs`` and ``state_sizes``; a task's
constructor and ``spec``).
"""

from __future__ import annotations

import inspect
import re

from .cell import API_VERSION, Cell, ParamSpec
from .task import VIEWS, Task, TaskParam, TaskSpec

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
INITS = ("uniform", "zeros", "ones")

#: methods and the positional parameters (after ``self``) they must accept
CELL_METHODS = {
    "param_specs": ("input_size", "hidden_size", "bias"),
    "state_sizes": ("hidden_size",),
    "forward": ("params", "x", "lengths", "state0", "reverse"),
    "backward": ("params", "cache", "dy", "dstate_n", "grads"),
}
TASK_METHODS = {
    "spec": (),
    "make_data": ("seed",),
    "loss": (),
    "metrics": ("pred", "y", "lengths"),
}


def kind_of(obj) -> str | None:
    """``"cell"`` or ``"task"`` for a plugin class, else ``None``."""
    if isinstance(obj, type):
        if issubclass(obj, Cell):
            return "cell"
        if issubclass(obj, Task):
            return "task"
    return None


def describe_object(obj) -> str:
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    if inspect.ismodule(obj):
        return f"module {obj.__name__}"
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(qualname, str):
        return f"{type(obj).__name__} {getattr(obj, '__module__', '?')}.{qualname}"
    return f"{type(obj).__name__} {obj!r:.60}"


def api_problem(version) -> str | None:
    """Why ``version`` (a plugin's ``api_version``) is refused, or ``None``."""
    ok = (isinstance(version, tuple) and len(version) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in version))
    if not ok:
        return f"api_version: expected a tuple (major, minor) of ints, got {version!r}"
    if version[0] != API_VERSION[0]:
        return (f"targets plugin API {version[0]}.{version[1]}; this rnnlab supports plugin "
                f"API {API_VERSION[0]}.x (up to {API_VERSION[0]}.{API_VERSION[1]})")
    return None


def validate(cls) -> list[str]:
    """Problems with plugin class ``cls`` (a Cell or Task subclass), most basic first."""
    kind = kind_of(cls)
    if kind is None:
        return [f"expected a Cell or Task subclass, got {describe_object(cls)}"]
    problems = _common(cls)
    if problems:
        return problems
    if kind == "cell":
        problems = _cell_attributes(cls) + _signatures(cls, CELL_METHODS)
        return problems or _cell_hooks(cls)
    problems = _task_attributes(cls) + _signatures(cls, TASK_METHODS)
    return problems or _task_hooks(cls)


def _common(cls) -> list[str]:
    problems = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        problems.append("name: expected a string of letters, digits and underscores starting "
                        f"with a letter, got {name!r}")
    if not isinstance(getattr(cls, "description", None), str):
        problems.append(f"description: expected a string, got {cls.description!r}")
    api = api_problem(getattr(cls, "api_version", None))
    if api:
        problems.append(api)
    if inspect.isabstract(cls):
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        problems.append(f"missing method(s) {', '.join(missing)}")
    return problems


def _is_str_tuple(value) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, str) and v for v in value)


def _cell_attributes(cls) -> list[str]:
    problems = []
    if not _is_str_tuple(cls.gates):
        problems.append(f"gates: expected a tuple of names, got {cls.gates!r}")
    if not _is_str_tuple(cls.states) or not cls.states:
        problems.append(f"states: expected a non-empty tuple of names, got {cls.states!r}")
    opts = cls.options
    if not isinstance(opts, dict) or not all(isinstance(k, str) for k in opts):
        problems.append(f"options: expected a dict of name -> default, got {opts!r}")
    return problems


def _task_attributes(cls) -> list[str]:
    problems = []
    params = cls.params
    if not isinstance(params, tuple) or not all(isinstance(p, TaskParam) for p in params):
        problems.append(f"params: expected a tuple of TaskParam, got {params!r}")
    else:
        names = [p.name for p in params]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            problems.append(f"params: expected unique names, got {dups} more than once")
        for p in params:
            try:
                p.validate(p.default)
            except ValueError as exc:
                problems.append(f"params: default of {p.name!r} is out of its own range: {exc}")
    if cls.view is not None and cls.view not in VIEWS:
        problems.append(f"view: expected None or one of {VIEWS}, got {cls.view!r}")
    if not isinstance(cls.reference, dict):
        problems.append(f"reference: expected a dict, got {cls.reference!r}")
    return problems


def _signatures(cls, methods: dict[str, tuple[str, ...]]) -> list[str]:
    problems = []
    for method, args in methods.items():
        fn = getattr(cls, method, None)
        if not callable(fn):
            problems.append(f"{method}: expected a method, got {fn!r}")
            continue
        try:
            inspect.signature(fn).bind(None, *args)
        except TypeError:
            want = ", ".join(("self", *args))
            problems.append(f"{method}: expected a method callable as {method}({want}), "
                            f"got {method}{inspect.signature(fn)}")
        except ValueError:
            pass  # no signature available (a builtin); calling it will tell
    return problems


def _hook_error(call: str, exc: BaseException) -> str:
    return f"{call} raised {type(exc).__name__}: {exc}"


def _cell_hooks(cls) -> list[str]:
    try:
        cell = cls()
    except Exception as exc:
        return [_hook_error(f"{cls.__name__}()", exc)]
    call = "param_specs(input_size=3, hidden_size=4, bias=True)"
    try:
        specs = cell.param_specs(3, 4, True)
    except Exception as exc:
        return [_hook_error(call, exc)]
    if not isinstance(specs, (list, tuple)) or not all(isinstance(s, ParamSpec) for s in specs):
        return [f"{call}: expected a list of ParamSpec, got {specs!r}"]
    problems = []
    for s in specs:
        shape_ok = isinstance(s.shape, tuple) and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in s.shape)
        if not shape_ok:
            problems.append(f"{call}: {s.name!r}: expected a shape of positive ints, "
                            f"got {s.shape!r}")
        if s.init not in INITS:
            problems.append(f"{call}: {s.name!r}: expected init in {INITS}, got {s.init!r}")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        problems.append(f"{call}: expected unique parameter names, got {names}")
    try:
        sizes = tuple(cell.state_sizes(4))
    except Exception as exc:
        return [*problems, _hook_error("state_sizes(hidden_size=4)", exc)]
    if len(sizes) != len(cls.states) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
        problems.append(f"state_sizes(4): expected {len(cls.states)} positive ints (one per "
                        f"state {cls.states}), got {sizes!r}")
    return problems


def _task_hooks(cls) -> list[str]:
    try:
        task = cls()
    except Exception as exc:
        return [_hook_error(f"{cls.__name__}()", exc)]
    try:
        spec = task.spec()
    except Exception as exc:
        return [_hook_error("spec()", exc)]
    if not isinstance(spec, TaskSpec):
        return [f"spec(): expected a TaskSpec, got {spec!r}"]
    problems = []
    for field in ("input_size", "output_size"):
        n = getattr(spec, field)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            problems.append(f"spec().{field}: expected a positive int, got {n!r}")
    if spec.vocab_size is not None and (not isinstance(spec.vocab_size, int)
                                        or spec.vocab_size < 1):
        problems.append(f"spec().vocab_size: expected None or a positive int, "
                        f"got {spec.vocab_size!r}")
    return problems
