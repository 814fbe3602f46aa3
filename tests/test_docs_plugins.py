"""docs/plugins.md: its code blocks are extracted and run.

Each ``python`` block starts with ``# <file>.py``; blocks naming the same file are joined.
``my_plugins.py`` goes into a plugin folder, the other files beside it.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import runpy
import shlex
from pathlib import Path

import pytest

from rnnlab import cli
from rnnlab.engine import contract, registry, settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def fenced(lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(DOC.read_text("utf-8")) if kind == lang]


@pytest.fixture(scope="module")
def doc_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plugin_guide")
    parts: dict[str, list[str]] = {}
    for body in fenced("python"):
        first, _, rest = body.partition("\n")
        assert re.fullmatch(r"# \w+\.py", first), (
            f"a python block must start with '# <file>.py', got {first!r}")
        parts.setdefault(first[2:], []).append(rest)
    paths = {}
    for name, blocks in parts.items():
        folder = root / ("plugins" if name == "my_plugins.py" else "scripts")
        folder.mkdir(exist_ok=True)
        paths[name] = folder / name
        paths[name].write_text("\n".join(blocks), encoding="utf-8")
    return paths


@pytest.fixture
def env(tmp_path, doc_files):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNLAB_CONFIG_DIR", str(tmp_path / "config"))
        mp.setenv("RNNLAB_PLUGIN_PATH", str(doc_files["my_plugins.py"].parent))
        mp.delenv("RNNLAB_DISABLE_PLUGINS", raising=False)
        registry.refresh()
        yield mp
    registry.refresh()


def test_the_guide_holds_a_plugin_module_its_tests_and_a_training_script(doc_files):
    assert set(doc_files) == {"my_plugins.py", "test_my_plugins.py", "train_majority.py"}


def test_worked_cell_and_task_register_from_a_plugin_folder(env, doc_files):
    source = str(doc_files["my_plugins.py"])
    found = {r.name: (r.kind, r.status, r.error) for r in registry.plugins()
             if r.source == source}
    assert found == {"gated_tanh": ("cell", "ok", ""), "majority": ("task", "ok", "")}
    assert registry.get_cell("gated_tanh").gates == ("z", "n")


def test_entry_point_table_names_the_worked_classes(env):
    tomllib = pytest.importorskip("tomllib")
    (block,) = fenced("toml")
    eps = tomllib.loads(block)["project"]["entry-points"][registry.GROUP]
    assert set(eps) == {"gated_tanh", "majority"}
    for name, target in eps.items():
        module, attr = target.split(":")
        cls = getattr(importlib.import_module(module), attr)
        assert cls.name == name and contract.validate(cls) == []


def test_settings_example_is_a_valid_settings_file(env):
    (block,) = fenced("json")
    path = settings.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(block)
    loaded = settings.load_settings()
    assert loaded["plugin_paths"] == ["~/rnnlab-plugins"]
    assert registry.plugin_paths()[-1] == Path("~/rnnlab-plugins").expanduser()
    registry.refresh()
    assert [r.status for r in registry.plugins() if r.name == "layernorm_lstm"] == ["disabled"]


def test_console_examples_are_valid_commands():
    parser = cli.build_parser()
    commands = 0
    for block in fenced("console"):
        for line in block.splitlines():
            assert line.startswith("$ "), line
            words = shlex.split(line[2:])
            while "=" in words[0]:
                words.pop(0)  # environment assignments
            if words[0] == "pip":
                continue
            assert words[0] == "rnnlab", line
            assert parser.parse_args(words[1:]).handler, line
            commands += 1
    assert commands >= 10


def test_documented_messages_are_the_real_ones():
    text = " ".join(DOC.read_text("utf-8").split())
    assert contract.api_problem((2, 0)) in text
    assert "import failed: ModuleNotFoundError: No module named 'x'" in text


@pytest.mark.slow
def test_worked_tests_training_script_and_check_pass(env, doc_files, capsys):
    path = doc_files["test_my_plugins.py"]
    spec = importlib.util.spec_from_file_location("plugin_guide_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [fn for name, fn in vars(module).items() if name.startswith("test_")]
    assert len(tests) == 4
    for test in tests:
        test()
    runpy.run_path(str(doc_files["train_majority.py"]), run_name="__main__")
    assert re.fullmatch(r"\{'accuracy': [0-9.]+\}\n", capsys.readouterr().out)
    assert cli.main(["plugins", "check", "gated_tanh", "majority"]) == 0
    assert capsys.readouterr().out.count("=> passed") == 2
