"""``rnnlab plugins list|check|new|enable|disable`` and the scaffolded packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab import checks, cli, scaffold
from rnnlab.engine import registry, settings

FIXTURES = Path(__file__).resolve().parent / "plugin_fixtures"
FOLDER = FIXTURES / "folder"
BEHAVIOUR = FIXTURES / "behaviour"
BIN = Path(sys.executable).parent
BUILTIN_CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru", "peephole_lstm", "layernorm_lstm",
                 "indrnn")
BUILTIN_TASKS = ("sine", "mod3", "charclass", "sentiment", "gradflow", "adding", "copy")


@pytest.fixture
def env(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNLAB_CONFIG_DIR", str(tmp_path / "config"))
        mp.delenv("RNNLAB_PLUGIN_PATH", raising=False)
        mp.delenv("RNNLAB_DISABLE_PLUGINS", raising=False)
        registry.refresh()
        yield mp
    registry.refresh()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> dict[str, list[str]]:
    """Table rows keyed by name (last row wins), split on runs of two or more spaces."""
    import re

    lines = out.split("\n\n")[0].splitlines()
    return {r[0]: r for r in (re.split(r"\s{2,}", line) for line in lines[1:])}


# list ------------------------------------------------------------------------------------
def test_list_shows_every_builtin_as_a_table(env, capsys):
    code, out, _ = run(capsys, "plugins", "list")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "KIND", "VERSION", "SOURCE", "STATUS",
                                           "ERROR"]
    table = rows(out)
    for name in BUILTIN_CELLS + BUILTIN_TASKS:
        kind = "cell" if name in BUILTIN_CELLS else "task"
        assert table[name] == [name, kind, "0.1.0", "rnnlab", "ok"]
    assert f"plugin_paths in {settings.settings_path()}" in out


def test_list_reports_failures_per_plugin(env, capsys):
    env.setenv("RNNLAB_PLUGIN_PATH", str(FOLDER))
    registry.refresh()
    code, out, _ = run(capsys, "plugins", "list", "--full")
    assert code == 0
    table = rows(out)
    assert table["broken_import"][1:5] == ["-", "-", str(FOLDER / "broken_import.py"), "error"]
    assert table["broken_import"][5] == ("import failed: ModuleNotFoundError: No module named "
                                         "'rnnlab_no_such_module'")
    assert table["future_api"][4:] == ["error", "targets plugin API 2.0; this rnnlab supports "
                                                "plugin API 1.x (up to 1.0)"]
    assert table["fixture_parity"][1:] == ["task", "-", str(FOLDER / "good_task.py"), "ok"]
    assert f"plugin folders: {FOLDER}" in out


def test_list_json_and_kind_filter(env, capsys):
    code, out, _ = run(capsys, "plugins", "list", "--kind", "task", "--json")
    assert code == 0
    records = json.loads(out)
    assert sorted(r["name"] for r in records) == sorted(BUILTIN_TASKS)
    assert set(records[0]) == {"name", "kind", "version", "source", "status", "error",
                               "description", "target"}
    assert all(r["kind"] == "task" and r["description"] for r in records)


def test_list_shortens_long_errors_unless_full():
    long = [{"name": "x", "kind": "cell", "version": "1", "source": "s", "status": "error",
             "error": "e" * 300}]
    short = plugins_cmd().format_table(long, width=80)
    assert short.splitlines()[1].endswith("e...") and len(short.splitlines()[1]) <= 80
    assert plugins_cmd().format_table(long, full=True).endswith("e" * 300)


def plugins_cmd():
    from rnnlab.commands import plugins

    return plugins


# check -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUILTIN_CELLS + BUILTIN_TASKS)
def test_every_builtin_passes_check(env, capsys, name):
    code, out, err = run(capsys, "plugins", "check", name)
    assert code == 0, out + err
    assert out.splitlines()[-1] == "  => passed"
    stages = [line.split()[1].rstrip(":") for line in out.splitlines()[1:-1]]
    if name in BUILTIN_CELLS:
        assert stages == ["contract", "gradient_check", "gradient_check", "step_loop_check"]
    else:
        assert stages == ["contract", "task_check"]


def test_check_a_good_file_and_a_folder_plugin_by_name(env, capsys):
    code, out, _ = run(capsys, "plugins", "check", str(FOLDER / "good_cell.py"))
    assert code == 0 and out.startswith(f"cell fixture_tanh ({FOLDER / 'good_cell.py'}::")
    env.setenv("RNNLAB_PLUGIN_PATH", str(FOLDER))
    registry.refresh()
    code, out, _ = run(capsys, "plugins", "check", "fixture_parity")
    assert code == 0 and "ok   task_check: on random predictions: loss" in out


def test_check_fails_with_the_reason(env, capsys):
    code, out, err = run(capsys, "plugins", "check", str(BEHAVIOUR))
    assert code == 1 and err == "4 plugin(s) failed their checks\n"
    assert ("FAIL task_check: task_check('seedless'): stage 'seed': make_data(1) returned "
            "the same data as make_data(0)") in out
    assert "stage 'reproducible': make_data(0) returned different data" in out
    assert ("stage 'shapes (train)': y: expected class ids of shape (6,), got shape (6, 1) "
            "and dtype int64") in out
    assert ("FAIL gradient_check (2 layers, bidirectional, lengths): "
            "gradient_check('wrong_gradient'): stage 'dx':") in out
    assert "ok   step_loop_check (lengths)" in out  # its forward is right


@pytest.mark.parametrize(("target", "reason"), [
    ("broken_import.py", "FAIL load: import failed: ModuleNotFoundError"),
    ("hook_error.py", "FAIL load: param_specs(input_size=3, hidden_size=4, bias=True) raised"),
    ("future_api.py", "FAIL load: targets plugin API 2.0"),
    ("wrong_contract.py", "FAIL load: gates: expected a tuple of names"),
    ("_private_helper.py", "plugin folders must skip"),
])
def test_check_reports_broken_plugins(env, capsys, target, reason):
    code, out, _ = run(capsys, "plugins", "check", str(FOLDER / target))
    assert code == 1 and reason in out and "=> FAILED" in out


def test_check_disabled_plugin_by_name_still_checks_it(env, capsys):
    env.setenv("RNNLAB_DISABLE_PLUGINS", "rnn_relu")
    registry.refresh()
    code, out, _ = run(capsys, "plugins", "check", "rnn_relu")
    assert code == 0 and out.startswith("cell rnn_relu")
    assert registry.plugins("cell") and registry.get_cell("rnn_tanh")
    with pytest.raises(KeyError, match="is disabled"):
        registry.get_cell("rnn_relu")  # checking does not enable it


def test_check_unknown_name_and_missing_path(env, capsys):
    code, out, _ = run(capsys, "plugins", "check", "nope")
    assert code == 1 and "no plugin named 'nope'; known plugins: adding," in out
    code, out, _ = run(capsys, "plugins", "check", "missing/plugin.py")
    assert code == 1
    assert ("expected a plugin name, a .py file or a folder, got 'missing/plugin.py' "
            "(no such file or folder)") in out


def test_task_check_stages_and_arguments():
    result = checks.task_check("sine", samples=40)
    assert set(result) == {"loss", "metrics"} and set(result["metrics"]) == {"mse"}
    with pytest.raises(ValueError, match="samples"):
        checks.task_check("sine", samples=1)
    with pytest.raises(TypeError, match="expected a registered name, a Task subclass"):
        checks.task_check(3)


# new, enable, disable, help ----------------------------------------------------------------
@pytest.mark.parametrize(("argv", "message"), [
    (["cell", "My-Cell"], "NAME: expected a lowercase identifier"),
    (["task", "9lives"], "NAME: expected a lowercase identifier"),
    (["cell", "lstm"], "NAME: 'lstm' is already registered by rnnlab; expected a new name"),
])
def test_new_refuses_bad_names(env, capsys, tmp_path, argv, message):
    code, _, err = run(capsys, "plugins", "new", *argv, str(tmp_path / "pkg"))
    assert code == 2 and message in err
    assert not (tmp_path / "pkg").exists()


def test_new_refuses_a_folder_with_files(env, capsys, tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "plugins", "new", "cell", "fresh_cell", str(tmp_path))
    assert code == 2 and "DIR: expected a new or empty folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_new_writes_a_package(env, capsys, tmp_path):
    code, _, _ = run(capsys, "plugins", "new", "task", "running_mean", str(tmp_path / "p"))
    assert code == 0
    files = sorted(str(p.relative_to(tmp_path / "p")) for p in (tmp_path / "p").rglob("*")
                   if p.is_file())
    assert files == ["README.md", "pyproject.toml", "src/rnnlab_running_mean/__init__.py",
                     "src/rnnlab_running_mean/task.py", "tests/test_running_mean.py"]
    pyproject = (tmp_path / "p" / "pyproject.toml").read_text()
    assert ('[project.entry-points."rnnlab.plugins"]\n'
            'running_mean = "rnnlab_running_mean:RunningMeanTask"') in pyproject
    assert "{{" not in "".join(p.read_text() for p in (tmp_path / "p").rglob("*.*"))


def test_class_names():
    assert scaffold.class_name("my_gru", "cell") == "MyGruCell"
    assert scaffold.class_name("fast_cell", "cell") == "FastCell"
    assert scaffold.class_name("copy3", "task") == "Copy3Task"


def test_enable_and_disable_write_the_settings(env, capsys):
    code, out, _ = run(capsys, "plugins", "disable", "gru", "sine")
    assert code == 0 and out == f"disabled gru, sine in {settings.settings_path()}\n"
    assert settings.load_settings()["disabled_plugins"] == ["gru", "sine"]
    _, out, _ = run(capsys, "plugins", "list")
    assert rows(out)["gru"][4:] == ["disabled", "disabled by name"]
    env.setenv("RNNLAB_DISABLE_PLUGINS", "sine")
    code, _, err = run(capsys, "plugins", "enable", "gru", "sine")
    assert code == 0 and err == "note: still disabled by RNNLAB_DISABLE_PLUGINS: sine\n"
    assert settings.load_settings()["disabled_plugins"] == []
    assert registry.get_cell("gru")


def test_help_without_a_command(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "plugins" in out and out.startswith("usage: rnnlab")
    code, out, _ = run(capsys, "plugins")
    assert code == 2 and out.startswith("usage: rnnlab plugins")


def test_console_script_is_installed(tmp_path):
    env = {**os.environ, "RNNLAB_CONFIG_DIR": str(tmp_path)}
    out = subprocess.run([str(BIN / "rnnlab"), "plugins", "list", "--kind", "cell"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert rows(out.stdout)["peephole_lstm"][1:] == ["cell", "0.1.0", "rnnlab", "ok"]


# scaffolded packages, installed with pip -------------------------------------------------
def _pip_install(project: Path, site: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(site), str(project)],
                   check=True, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "name"), [("task", "mean_of_steps"), ("cell", "tiny_gate")])
def test_scaffold_installs_is_discovered_checks_and_tests_pass(tmp_path, kind, name):
    project, site = tmp_path / "project", tmp_path / "site"
    assert cli.main(["plugins", "new", kind, name, str(project)]) == 0
    lint = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout
    _pip_install(project, site)
    # metadata from the installed copy, code from src: what `pip install -e` gives, and the
    # generated tests (pythonpath = src) then reuse the kernels `plugins check` compiled
    path = os.pathsep.join([str(project / "src"), str(site)])
    env = {**os.environ, "PYTHONPATH": path, "RNNLAB_CONFIG_DIR": str(tmp_path / "cfg")}
    for key in ("RNNLAB_PLUGIN_PATH", "RNNLAB_DISABLE_PLUGINS", "NUMBA_DISABLE_JIT"):
        env.pop(key, None)

    listed = subprocess.run([str(BIN / "rnnlab"), "plugins", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    mine = [r for r in json.loads(listed.stdout) if r["name"] == name]
    dist = f"rnnlab-{name.replace('_', '-')}"
    assert [(r["kind"], r["version"], r["source"], r["status"]) for r in mine] == [
        (kind, "0.1.0", dist, "ok")]

    checked = subprocess.run([str(BIN / "rnnlab"), "plugins", "check", name], env=env,
                             capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines()[-1] == "  => passed"

    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p",
                            "no:cacheprovider"], cwd=project, env=env, capture_output=True,
                           text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "skipped" not in tests.stdout


def test_check_a_plugin_project_before_installing(env, capsys, tmp_path):
    project = tmp_path / "project"
    assert scaffold.create("task", "project_task", project)
    env.syspath_prepend(str(project / "src"))
    code, out, _ = run(capsys, "plugins", "check", str(project))
    assert code == 0
    assert out.startswith("task project_task (rnnlab_project_task:ProjectTask)")
    assert "project_task" not in registry.names("task")  # checked, not registered
