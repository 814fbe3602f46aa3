"""Plugin discovery: built-ins through entry points, plugin folders, a third-party
distribution, per-plugin failures, disabling, settings and the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab.engine import contract, registry, settings
from rnnlab.engine.cell import API_VERSION
from rnnlab.engine.cells import BUILTIN_CELLS, LSTMKernel, RNNTanhKernel
from rnnlab.engine.task import Task, TaskParam, TaskSpec
from rnnlab.plugins import builtin

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "plugin_fixtures"
FOLDER = FIXTURES / "folder"
SITE = FIXTURES / "site"
BUILTIN_CELL_NAMES = ("rnn_tanh", "rnn_relu", "lstm", "gru",
                      "peephole_lstm", "layernorm_lstm", "indrnn")
BUILTIN_TASK_NAMES = ("sine", "mod3", "charclass", "sentiment", "gradflow", "adding", "copy")


@pytest.fixture
def env(tmp_path):
    """A clean plugin environment (own settings folder, no plugin env vars); the registry is
    rediscovered afterwards so other tests see the real environment again."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNLAB_CONFIG_DIR", str(tmp_path / "config"))
        mp.delenv("RNNLAB_PLUGIN_PATH", raising=False)
        mp.delenv("RNNLAB_DISABLE_PLUGINS", raising=False)
        yield mp
    registry.refresh()


@pytest.fixture
def folder(env):
    env.setenv("RNNLAB_PLUGIN_PATH", str(FOLDER))
    return {(r.kind, r.name, Path(r.source).name): r for r in registry.refresh()}


def record(name: str, kind: str | None = None) -> registry.Plugin:
    found = [r for r in registry.plugins() if r.name == name and kind in (None, r.kind)]
    assert len(found) == 1, found
    return found[0]


# built-ins -------------------------------------------------------------------------------
def test_builtins_come_from_rnnlab_entry_points(env):
    registry.refresh()
    assert registry.names("cell") == sorted(BUILTIN_CELL_NAMES)
    assert registry.names("task") == sorted(BUILTIN_TASK_NAMES)
    for name in (*BUILTIN_CELL_NAMES, *BUILTIN_TASK_NAMES):
        r = record(name)
        assert (r.status, r.source, r.error) == ("ok", "rnnlab", "")
        assert r.target == f"rnnlab.plugins.builtin:{name}"
        assert r.description
    assert registry.get_cell("lstm") is LSTMKernel
    for name, cls in BUILTIN_CELLS.items():
        assert registry.get_cell(name) is cls
    assert issubclass(registry.get_task("sine"), Task)


def test_pyproject_registers_exactly_the_builtins():
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as f:
        eps = tomllib.load(f)["project"]["entry-points"][registry.GROUP]
    assert eps == {name: f"rnnlab.plugins.builtin:{name}" for name in builtin.BUILTINS}
    assert set(builtin.BUILTINS) == {*BUILTIN_CELL_NAMES, *BUILTIN_TASK_NAMES}


def test_builtin_targets_resolve_lazily_to_the_named_class():
    assert builtin.lstm is LSTMKernel
    assert builtin.sine.name == "sine"
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        builtin.nonexistent  # noqa: B018


def test_builtins_load_without_installed_metadata(env):
    env.setattr(registry.metadata, "distributions", lambda **kw: iter(()))
    env.setattr(registry.metadata, "entry_points", lambda **kw: ())
    recs = registry.refresh()
    assert {r.name for r in recs if r.status == "ok"} == set(builtin.BUILTINS)
    assert {r.source for r in recs} == {"rnnlab (not installed)"}
    assert registry.get_cell("gru") is BUILTIN_CELLS["gru"]


def test_listing_compiles_no_kernel_and_builds_no_data(tmp_path):
    """In a fresh process: discovery leaves every kernel uncompiled, never calls make_data
    and imports no Qt."""
    plugin = tmp_path / "plugins" / "tripwire.py"
    plugin.parent.mkdir()
    plugin.write_text(
        "from rnnlab.engine.task import Task, TaskSpec\n"
        "class TripwireTask(Task):\n"
        "    name = 'tripwire'\n"
        "    def spec(self):\n"
        "        return TaskSpec('regression', input_size=1, output_size=1)\n"
        "    def make_data(self, seed):\n"
        "        raise SystemExit('make_data ran during discovery')\n")
    code = (
        "import sys\n"
        "from rnnlab.engine import registry\n"
        "recs = registry.plugins()\n"
        "assert registry.get_task('tripwire') and registry.get_cell('peephole_lstm')\n"
        "from numba.core.registry import CPUDispatcher\n"
        "compiled = [f'{m}.{k}' for m, mod in list(sys.modules.items())\n"
        "            if m.startswith('rnnlab') for k, v in vars(mod).items()\n"
        "            if isinstance(v, CPUDispatcher) and v.signatures]\n"
        "kernels = [m for m in sys.modules if m.startswith('rnnlab.plugins.cells.')]\n"
        "qt = [m for m in sys.modules if m.startswith(('PyQt6', 'pyqtgraph'))]\n"
        "print(len(recs), compiled, len(kernels), qt)\n")
    env = {**os.environ, "RNNLAB_PLUGIN_PATH": str(plugin.parent),
           "RNNLAB_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("RNNLAB_DISABLE_PLUGINS", None)
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count, compiled, kernels, qt = out.stdout.strip().split(" ", 3)
    assert int(count) == len(builtin.BUILTINS) + 1
    assert compiled == "[]" and int(kernels) >= 3
    assert qt == "[]"


# plugin folders and per-plugin failures --------------------------------------------------
def test_good_folder_plugins_are_registered(folder):
    cell = folder["cell", "fixture_tanh", "good_cell.py"]
    assert (cell.status, cell.version, cell.target.split("::")[1]) == (
        "ok", "1.2.3", "FixtureTanhCell")
    assert registry.get_cell("fixture_tanh").__name__ == "FixtureTanhCell"
    task = folder["task", "fixture_parity", "good_task.py"]
    assert task.status == "ok" and task.description.startswith("Is the number")
    assert registry.get_task("fixture_parity").__name__ == "RunningParityTask"


def test_import_error_is_reported_for_that_file_only(folder):
    r = folder["", "broken_import", "broken_import.py"]
    assert r.status == "error"
    assert r.error == ("import failed: ModuleNotFoundError: No module named "
                       "'rnnlab_no_such_module'")
    assert all(record(n).status == "ok" for n in BUILTIN_CELL_NAMES if n != "lstm")
    exits = folder["", "exits_on_import", "exits_on_import.py"]
    assert (exits.status, exits.error) == ("error",
                                           "import failed: SystemExit: plugin called sys.exit")


def test_wrong_contract_lists_every_problem(folder):
    r = folder["cell", "wrong_contract", "wrong_contract.py"]
    assert r.status == "error" and r.obj is None
    assert "gates: expected a tuple of names, got ['a', 'b']" in r.error
    assert "states: expected a non-empty tuple of names, got ()" in r.error
    assert ("forward: expected a method callable as forward(self, params, x, lengths, "
            "state0, reverse), got forward(self, params, x, lengths, state0)") in r.error
    with pytest.raises(KeyError, match=r"cell 'wrong_contract' failed to load: gates"):
        registry.get_cell("wrong_contract")


def test_duplicate_names_first_wins_and_both_are_reported(folder):
    lstm = [r for r in registry.plugins("cell") if r.name == "lstm"]
    assert [(r.source, r.status) for r in lstm] == [
        ("rnnlab", "ok"), (str(FOLDER / "late_duplicate.py"), "error")]
    assert lstm[0].error == (f"also provided by {FOLDER / 'late_duplicate.py'} "
                             f"({FOLDER / 'late_duplicate.py'}::ShadowLSTMCell), ignored")
    assert lstm[1].error == ("duplicate name: cell 'lstm' is already provided by rnnlab "
                             "(rnnlab.plugins.builtin:lstm)")
    assert registry.get_cell("lstm") is LSTMKernel
    second = folder["cell", "fixture_tanh", "late_duplicate.py"]
    assert second.status == "error" and "good_cell.py::FixtureTanhCell" in second.error
    assert registry.get_cell("fixture_tanh").__name__ == "FixtureTanhCell"


def test_exceptions_in_hooks_are_caught(folder):
    cell = folder["cell", "hook_error_cell", "hook_error.py"]
    assert cell.error == ("param_specs(input_size=3, hidden_size=4, bias=True) raised "
                          "RuntimeError: boom in param_specs")
    task = folder["task", "hook_error_task", "hook_error.py"]
    assert task.error == "spec() raised ZeroDivisionError: boom in spec"
    assert cell.status == task.status == "error"


def test_newer_api_major_version_is_refused_with_supported_versions(folder):
    r = folder["cell", "future_api", "future_api.py"]
    assert r.status == "error"
    assert r.error == (f"targets plugin API 2.0; this rnnlab supports plugin API "
                       f"{API_VERSION[0]}.x (up to {API_VERSION[0]}.{API_VERSION[1]})")


def test_underscore_files_are_skipped(folder):
    assert not [k for k in folder if k[2] == "_private_helper.py"]


# disabling ---------------------------------------------------------------------------------
def _file_module_loaded(stem: str) -> bool:
    return stem in sys.modules


def test_disabled_by_environment_is_not_imported(env, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "quiet_cell.py").write_text((FOLDER / "disabled_cell.py").read_text()
                                           .replace("disabled_cell", "quiet_cell"))
    env.setenv("RNNLAB_PLUGIN_PATH", str(plugins))
    env.setenv("RNNLAB_DISABLE_PLUGINS", " quiet_cell , gru")
    registry.refresh()
    assert not _file_module_loaded("quiet_cell")
    assert record("quiet_cell").status == "disabled"
    gru = record("gru")
    assert (gru.status, gru.kind, gru.error) == ("disabled", "", "disabled by name")
    with pytest.raises(KeyError, match=r"cell 'gru' is disabled \(from rnnlab\)"):
        registry.get_cell("gru")
    assert "gru" not in registry.names("cell")
    env.delenv("RNNLAB_DISABLE_PLUGINS")
    registry.refresh()
    assert record("quiet_cell").status == "ok" and _file_module_loaded("quiet_cell")


def test_disabled_by_setting_and_reenabled(env):
    env.setenv("RNNLAB_PLUGIN_PATH", str(FOLDER))
    registry.set_disabled("disabled_cell")
    registry.set_disabled("rnn_relu")
    path = settings.settings_path()
    assert json.loads(path.read_text())["disabled_plugins"] == ["disabled_cell", "rnn_relu"]
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp files left
    assert record("disabled_cell").status == "disabled"
    assert record("rnn_relu").status == "disabled"
    registry.set_disabled("disabled_cell", False)
    assert json.loads(path.read_text())["disabled_plugins"] == ["rnn_relu"]
    assert record("disabled_cell", "cell").status == "ok"
    assert registry.get_cell("disabled_cell").__name__ == "DisabledCell"


def test_a_plugin_disabled_by_class_name_is_not_usable(env):
    env.setenv("RNNLAB_PLUGIN_PATH", str(FOLDER))
    env.setenv("RNNLAB_DISABLE_PLUGINS", "fixture_parity")  # the file is good_task.py
    registry.refresh()
    r = record("fixture_parity")
    assert (r.status, r.kind, r.obj) == ("disabled", "task", None)


# a third-party distribution ----------------------------------------------------------------
def test_third_party_distribution_is_discovered(env):
    env.syspath_prepend(str(SITE))
    registry.refresh()
    cell = record("thirdparty_tanh")
    assert (cell.kind, cell.version, cell.source, cell.status) == (
        "cell", "0.3.1", "fixture-thirdparty", "ok")
    assert cell.target == "fixture_thirdparty:ThirdPartyCell"
    assert registry.get_cell("thirdparty_tanh").__module__ == "fixture_thirdparty"
    assert registry.get_task("thirdparty_count")(samples=25).make_data(0).train.x.shape == (
        20, 5, 1)
    missing = record("thirdparty_missing")
    assert missing.status == "error" and missing.error.startswith(
        "import failed: ModuleNotFoundError: No module named 'fixture_thirdparty_missing")
    alias = record("thirdparty_alias")
    assert alias.error == ("entry point 'thirdparty_alias' names a cell called "
                           "'not_the_entry_point_name'; expected the entry point to be named "
                           "after it")
    fn = record("thirdparty_function")
    assert fn.error == ("expected a Cell or Task subclass, got function "
                        "fixture_thirdparty.make_cells")
    assert record("lstm").status == "ok"


# cache, settings, lookups ------------------------------------------------------------------
def test_discovery_is_cached_until_refresh(env, tmp_path):
    registry.refresh()
    plugins = tmp_path / "later"
    plugins.mkdir()
    (plugins / "late.py").write_text((FOLDER / "good_cell.py").read_text()
                                     .replace("fixture_tanh", "late_tanh"))
    env.setenv("RNNLAB_PLUGIN_PATH", str(plugins))
    assert "late_tanh" not in registry.names("cell")
    registry.refresh()
    assert "late_tanh" in registry.names("cell")


def test_plugin_paths_from_settings_follow_the_environment(env, tmp_path):
    settings.save_settings(plugin_paths=[str(FOLDER), str(tmp_path / "missing")])
    env.setenv("RNNLAB_PLUGIN_PATH", os.pathsep.join([str(tmp_path), str(FOLDER)]))
    assert registry.plugin_paths() == [tmp_path, FOLDER, tmp_path / "missing"]
    registry.refresh()
    assert record("fixture_parity").status == "ok"  # listed twice, loaded once


def test_broken_settings_file_means_defaults(env, caplog):
    path = settings.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert settings.load_settings() == settings.DEFAULTS
    assert "ignoring" in caplog.text
    path.write_text(json.dumps({"plugin_paths": "one/folder", "theme": "dark"}))
    loaded = settings.load_settings()
    assert loaded["plugin_paths"] == [] and loaded["theme"] == "dark"
    assert "plugin_paths: expected a list of strings, got 'one/folder'" in caplog.text
    assert registry.names("cell")  # discovery still works


def test_save_settings_keeps_other_keys_and_checks_types(env):
    settings.save_settings(theme="dark")
    settings.save_settings(disabled_plugins=["x"])
    assert settings.load_settings() == {"plugin_paths": [], "disabled_plugins": ["x"],
                                        "theme": "dark"}
    with pytest.raises(ValueError, match="disabled_plugins: expected a list of strings"):
        settings.save_settings(disabled_plugins="x")


def test_lookup_errors_name_what_exists(env):
    with pytest.raises(KeyError, match=r"unknown task 'lstm'; expected one of: adding, "):
        registry.get_task("lstm")
    with pytest.raises(TypeError, match="cell name: expected a string, got int"):
        registry.get_cell(3)
    with pytest.raises(ValueError, match="kind: expected one of"):
        registry.plugins("cells")


# the contract ----------------------------------------------------------------------------
class _GoodTask(Task):
    name = "good"

    def spec(self):
        return TaskSpec("regression", input_size=1, output_size=1)

    def make_data(self, seed):
        raise AssertionError("not called by validation")


def _variant(base, **attrs):
    return type("Variant", (base,), attrs)


@pytest.mark.parametrize(("cls", "message"), [
    (_variant(RNNTanhKernel, name="has space"), "name: expected a string of letters"),
    (_variant(RNNTanhKernel, name=3), "name: expected a string of letters, digits and "
                                      "underscores starting with a letter, got 3"),
    (_variant(RNNTanhKernel, description=None), "description: expected a string, got None"),
    (_variant(RNNTanhKernel, api_version="1.0"),
     "api_version: expected a tuple (major, minor) of ints, got '1.0'"),
    (_variant(RNNTanhKernel, api_version=(0, 9)), "targets plugin API 0.9"),
    (_variant(RNNTanhKernel, options=["proj_size"]), "options: expected a dict"),
    (_variant(RNNTanhKernel, param_specs=lambda self, i, h, b: [("weight", (h, i))]),
     "expected a list of ParamSpec"),
    (_variant(RNNTanhKernel, state_sizes=lambda self, h: (h, h)),
     "state_sizes(4): expected 1 positive ints"),
    (_variant(RNNTanhKernel, __init__=lambda self: 1 / 0),
     "Variant() raised ZeroDivisionError"),
    (type("NoMethods", (Task,), {"name": "x"}), "missing method(s) make_data, spec"),
    (_variant(_GoodTask, params=[TaskParam("n", 1, int)]), "params: expected a tuple"),
    (_variant(_GoodTask, params=(TaskParam("n", 1, int), TaskParam("n", 2, int))),
     "params: expected unique names, got ['n'] more than once"),
    (_variant(_GoodTask, params=(TaskParam("n", 0, int, 1, 5),)),
     "params: default of 'n' is out of its own range"),
    (_variant(_GoodTask, view="3d"), "view: expected None or one of"),
    (_variant(_GoodTask, make_data=lambda self: None),
     "make_data: expected a method callable as make_data(self, seed)"),
    (_variant(_GoodTask, spec=lambda self: {"kind": "regression"}),
     "spec(): expected a TaskSpec"),
    (int, "expected a Cell or Task subclass, got class builtins.int"),
])
def test_contract_problems_are_named(cls, message):
    problems = contract.validate(cls)
    assert any(message in p for p in problems), problems


def test_contract_accepts_every_builtin():
    for name in builtin.BUILTINS:
        assert contract.validate(getattr(builtin, name)) == [], name
    assert contract.validate(_GoodTask) == []


def test_a_file_named_like_an_existing_module_is_refused(env, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "json.py").write_text((FOLDER / "good_cell.py").read_text())
    env.setenv("RNNLAB_PLUGIN_PATH", str(plugins))
    registry.refresh()
    r = record("json")
    assert r.status == "error"
    assert r.error == (f"json.py: the module name 'json' is already taken by "
                       f"{json.__file__}; expected a unique file name")
    assert "fixture_tanh" not in registry.names("cell")


def test_an_edited_file_is_reloaded_on_refresh(env, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    source = (FOLDER / "good_cell.py").read_text().replace("fixture_tanh", "edited_tanh")
    path = plugins / "edited_tanh.py"
    path.write_text(source)
    env.setenv("RNNLAB_PLUGIN_PATH", str(plugins))
    registry.refresh()
    assert record("edited_tanh").description == "Elman tanh cell registered from a plugin folder"
    path.write_text(source.replace("registered from", "edited in"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    registry.refresh()
    assert record("edited_tanh").description == "Elman tanh cell edited in a plugin folder"
    import edited_tanh

    assert registry.get_cell("edited_tanh") is edited_tanh.FixtureTanhCell


def test_an_unreadable_settings_file_is_never_overwritten(tmp_path, monkeypatch, capsys):
    from rnnlab.cli import main

    monkeypatch.setenv("RNNLAB_CONFIG_DIR", str(tmp_path))
    broken = '{"plugin_paths": ["/x"],}'
    (tmp_path / "settings.json").write_text(broken)
    assert main(["plugins", "disable", "peephole_lstm"]) == 2
    assert "nothing was changed" in capsys.readouterr().err
    assert (tmp_path / "settings.json").read_text() == broken
