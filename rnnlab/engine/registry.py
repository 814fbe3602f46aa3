"""Plugin discovery, validation and isolation: every cell and task, built-in or not.

Sources, in this order (on a duplicate name the first wins and both are reported):

1. Entry points in the group ``rnnlab.plugins``, rnnlab's own distribution first. Each entry
   point names one :class:`~rnnlab.engine.cell.Cell` or :class:`~rnnlab.engine.task.Task`
   subclass and is called by the plugin's name: ``my_cell = "my_pkg.cell:MyCell"``.
2. Plugin folders of single-file plugins: ``RNNLAB_PLUGIN_PATH`` (``os.pathsep``-separated),
   then ``plugin_paths`` in the settings file. Every ``*.py`` file not starting with ``_`` is
   imported; its public Cell and Task subclasses are its plugins.

A plugin is disabled by name through ``RNNLAB_DISABLE_PLUGINS`` (comma-separated) or
``disabled_plugins`` in the settings; a disabled entry point (or file named after the
plugin) is not even imported. A failure (import error, wrong contract, exception in a hook,
API-version mismatch, duplicate name) marks that plugin ``"error"`` and nothing else.

Discovery imports plugin modules and calls only cheap hooks (see
:mod:`rnnlab.engine.contract`): kernels compile and datasets are built on first use.
The result is cached; :func:`refresh` discovers again.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

from . import contract
from .cell import Cell
from .settings import load_settings, save_settings
from .task import Task

GROUP = "rnnlab.plugins"
KINDS = ("cell", "task")
OWN_DISTRIBUTION = "rnnlab"


@dataclass(frozen=True)
class Plugin:
    """One discovered plugin and its status (``"ok"``, ``"error"`` or ``"disabled"``).

    ``kind`` is ``""`` when the plugin could not be imported (or was disabled before it
    was). ``source`` is the distribution (``"rnnlab"``) or the file; ``target`` the entry
    point's ``module:attr`` or ``path::Class``. ``error`` also carries notes for an ``"ok"``
    plugin (a duplicate it shadows).
    """

    name: str
    kind: str
    version: str
    source: str
    status: str
    error: str = ""
    description: str = ""
    target: str = ""
    obj: type | None = field(default=None, repr=False, compare=False)


class NoPluginsError(Exception):
    """A plugin file that defines no plugin, or whose module name is taken."""


class PluginNotFoundError(KeyError):
    """No usable plugin of that kind and name; the message says why and what exists."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class Candidate:
    """Something that yields plugin classes when loaded: an entry point or a file.

    ``load()`` returns ``[(target, object), ...]``; ``name`` is what disables it before it
    is loaded; an entry point's ``expect_name`` must equal its plugin's name.
    """

    name: str
    version: str
    source: str
    target: str
    load: Callable[[], list[tuple[str, object]]]
    expect_name: str | None = None


# discovery -------------------------------------------------------------------------------
def disabled_names() -> set[str]:
    """Names disabled by ``RNNLAB_DISABLE_PLUGINS`` and the settings file."""
    env = os.environ.get("RNNLAB_DISABLE_PLUGINS", "")
    names = {n.strip() for n in env.split(",") if n.strip()}
    return names | set(load_settings()["disabled_plugins"])


def plugin_paths() -> list[Path]:
    """Plugin folders: ``RNNLAB_PLUGIN_PATH`` first, then the settings' ``plugin_paths``."""
    env = os.environ.get("RNNLAB_PLUGIN_PATH", "")
    paths = [p for p in env.split(os.pathsep) if p.strip()]
    paths += load_settings()["plugin_paths"]
    seen, out = set(), []
    for p in paths:
        path = Path(p).expanduser()
        key = os.path.normcase(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def _entry_point_candidates() -> list[Candidate]:
    own = []
    # rnnlab's own entry points: the first rnnlab distribution declaring any (a stale
    # rnnlab.egg-info in the working directory must not hide the installed metadata)
    for dist in metadata.distributions(name=OWN_DISTRIBUTION):
        own = [_entry_point_candidate(ep, dist) for ep in dist.entry_points
               if ep.group == GROUP]
        if own:
            break
    others = [_entry_point_candidate(ep, getattr(ep, "dist", None))
              for ep in metadata.entry_points(group=GROUP)]
    others = [c for c in others if _normalise(c.source) != OWN_DISTRIBUTION]
    return (own or _builtin_fallback()) + others


def _entry_point_candidate(ep, dist) -> Candidate:
    source = dist.metadata["Name"] if dist is not None else "?"
    version = dist.version if dist is not None else "?"

    def load():
        return [(ep.value, ep.load())]

    return Candidate(ep.name, version, source, ep.value, load, ep.name)


def _builtin_fallback() -> list[Candidate]:
    """Built-ins when rnnlab runs without installed metadata (e.g. from a source tree)."""
    from .. import __version__
    from ..plugins import builtin

    def loader(name):
        return lambda: [(f"rnnlab.plugins.builtin:{name}", getattr(builtin, name))]

    return [Candidate(name, __version__, "rnnlab (not installed)",
                       f"rnnlab.plugins.builtin:{name}", loader(name), name)
            for name in builtin.BUILTINS]


def _normalise(dist_name: str) -> str:
    return dist_name.lower().replace("_", "-").replace(".", "-")


_FILE_MTIMES: dict[str, int] = {}


def load_file(path: Path) -> list[tuple[str, object]]:
    """Import a single-file plugin; its public Cell/Task subclasses as ``(target, class)``.

    The file is imported as a top-level module named after it, with its folder appended
    to ``sys.path``: ``import my_plugins`` elsewhere gives the same module (and Numba's
    disk cache, which records module names, stays valid), and the file can import helper
    modules beside it. It is re-executed when its modification time changed.
    """
    path = Path(path).resolve()
    name = path.stem
    if not name.isidentifier():
        raise NoPluginsError(f"{path.name}: expected a file name that is a Python identifier")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.append(folder)
    module = sys.modules.get(name) or importlib.import_module(name)
    found = getattr(module, "__file__", None)
    if found is None or Path(found).resolve() != path:
        raise NoPluginsError(f"{path.name}: the module name {name!r} is already taken by "
                             f"{found or 'a built-in module'}; expected a unique file name")
    mtime = path.stat().st_mtime_ns
    if _FILE_MTIMES.setdefault(str(path), mtime) != mtime:
        module = importlib.reload(module)
        _FILE_MTIMES[str(path)] = mtime
    classes = [obj for attr, obj in vars(module).items()
               if not attr.startswith("_") and contract.kind_of(obj)
               and obj.__module__ == module.__name__]
    if not classes:
        raise NoPluginsError(f"{path.name} defines no public Cell or Task subclass")
    return [(f"{path}::{cls.__name__}", cls) for cls in classes]


def file_candidates(paths: Iterable[Path]) -> list[Candidate]:
    """Single-file plugins in ``paths`` (folders of ``*.py`` files, or files)."""
    found = []
    for folder in paths:
        folder = Path(folder)
        if folder.is_file():
            files = [folder]
        elif folder.is_dir():
            files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
        else:
            continue
        for f in files:
            found.append(Candidate(f.stem, _file_version(f), str(f), str(f),
                                    lambda f=f: load_file(f)))
    return found


def _file_version(path: Path) -> str:
    """``__version__ = "..."`` from the file's text, without importing it."""
    try:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("__version__") and "=" in line:
                return line.split("=", 1)[1].strip().strip("'\"")
    except OSError:
        pass
    return "-"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, NoPluginsError):
        return str(exc)
    return f"import failed: {type(exc).__name__}: {exc}"


def _load_candidate(cand: Candidate, disabled: set[str]) -> list[Plugin]:
    """Records for one candidate; never raises (only KeyboardInterrupt gets through)."""
    base = Plugin(cand.name, "", cand.version, cand.source, "error", target=cand.target)
    if cand.name in disabled:
        return [replace(base, status="disabled", error="disabled by name")]
    try:
        loaded = cand.load()
    except (Exception, SystemExit) as exc:
        return [replace(base, error=_error_text(exc))]
    records = []
    for target, obj in loaded:
        rec = replace(base, target=target, kind=contract.kind_of(obj) or "")
        name = getattr(obj, "name", None) if rec.kind else None
        if isinstance(name, str) and name:
            rec = replace(rec, name=name)
        desc = getattr(obj, "description", "")
        rec = replace(rec, description=desc if isinstance(desc, str) else "")
        try:
            problems = contract.validate(obj)
        except (Exception, SystemExit) as exc:
            problems = [f"validation raised {type(exc).__name__}: {exc}"]
        if not problems and cand.expect_name is not None and rec.name != cand.expect_name:
            problems = [f"entry point {cand.expect_name!r} names a {rec.kind} called "
                        f"{rec.name!r}; expected the entry point to be named after it"]
            rec = replace(rec, name=cand.expect_name)
        if problems:
            records.append(replace(rec, error="; ".join(problems)))
        elif rec.name in disabled:
            records.append(replace(rec, status="disabled", error="disabled by name"))
        else:
            records.append(replace(rec, status="ok", obj=obj))
    return records


def load_candidates(cands: Iterable[Candidate], disabled: set[str] = frozenset()
                    ) -> list[Plugin]:
    """Records for ``cands`` in order, duplicates resolved (the first one wins)."""
    records: list[Plugin] = []
    winners: dict[tuple[str, str], int] = {}
    for cand in cands:
        for rec in _load_candidate(cand, disabled):
            key = (rec.kind, rec.name)
            if rec.status == "ok" and key in winners:
                first = records[winners[key]]
                records.append(replace(
                    rec, status="error", obj=None,
                    error=f"duplicate name: {rec.kind} {rec.name!r} is already provided by "
                          f"{first.source} ({first.target})"))
                note = f"also provided by {rec.source} ({rec.target}), ignored"
                records[winners[key]] = replace(
                    first, error="; ".join(filter(None, (first.error, note))))
                continue
            if rec.status == "ok":
                winners[key] = len(records)
            records.append(rec)
    return records


# the cached registry ---------------------------------------------------------------------
_lock = threading.RLock()
_records: tuple[Plugin, ...] | None = None


def discover(disabled: set[str] | None = None) -> list[Plugin]:
    """Discover every plugin now, without touching the cache.

    ``disabled`` defaults to :func:`disabled_names`; ``set()`` loads disabled plugins too.
    """
    importlib.invalidate_caches()
    cands = _entry_point_candidates() + file_candidates(plugin_paths())
    return load_candidates(cands, disabled_names() if disabled is None else disabled)


def refresh() -> tuple[Plugin, ...]:
    """Discover every plugin again (after installing one or changing settings)."""
    global _records
    with _lock:
        _records = tuple(discover())
        return _records


def plugins(kind: str | None = None) -> tuple[Plugin, ...]:
    """Every discovered plugin (of ``kind`` ``"cell"``/``"task"`` if given), any status."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS} or None, got {kind!r}")
    with _lock:
        records = _records if _records is not None else refresh()
    if kind is None:
        return records
    return tuple(r for r in records if r.kind == kind)


def names(kind: str) -> list[str]:
    """Sorted names of the usable plugins of ``kind``."""
    return sorted(r.name for r in plugins(kind) if r.status == "ok")


def _get(kind: str, name: str):
    if not isinstance(name, str):
        raise TypeError(f"{kind} name: expected a string, got {type(name).__name__}")
    usable = [r for r in plugins(kind) if r.status == "ok"]
    for r in usable:
        if r.name == name:
            return r.obj
    known = ", ".join(sorted(r.name for r in usable)) or "none"
    for r in plugins():
        if r.name == name and r.kind in (kind, ""):
            why = "is disabled" if r.status == "disabled" else f"failed to load: {r.error}"
            raise PluginNotFoundError(f"{kind} {name!r} {why} (from {r.source}); "
                                      f"usable {kind}s: {known}")
    raise PluginNotFoundError(f"unknown {kind} {name!r}; expected one of: {known}")


def get_cell(name: str) -> type[Cell]:
    """The cell class registered as ``name``; the error lists the usable names."""
    return _get("cell", name)


def get_task(name: str) -> type[Task]:
    """The task class registered as ``name``; the error lists the usable names."""
    return _get("task", name)


def set_disabled(names: str | Iterable[str], disabled: bool = True) -> None:
    """Disable (or re-enable) one plugin or several in the settings file, then refresh once."""
    names = list(dict.fromkeys([names] if isinstance(names, str) else names))
    current = load_settings()["disabled_plugins"]
    wanted = [n for n in current if n not in names] + (names if disabled else [])
    save_settings(disabled_plugins=wanted)
    refresh()
