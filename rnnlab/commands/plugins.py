"""``rnnlab plugins``: list, check, scaffold, enable and disable cell and task plugins."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

ACTIONS = ("list", "check", "new", "enable", "disable")
COLUMNS = ("name", "kind", "version", "source", "status", "error")


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "plugins", help="list, check and create cell and task plugins",
        description="Cells and tasks come from the entry-point group rnnlab.plugins and from "
                    "plugin folders (RNNLAB_PLUGIN_PATH, the settings' plugin_paths).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    p = actions.add_parser("list", help="every plugin with its status and error")
    p.add_argument("--kind", choices=("cell", "task"), help="only cells or only tasks")
    p.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    p.add_argument("--full", action="store_true", help="do not shorten long errors")

    p = actions.add_parser(
        "check", help="validate plugins and run their checks (exit 1 on a failure)",
        description="Cells: contract, float64 gradient checks, sequence-equals-steps check. "
                    "Tasks: contract, data shapes against the spec, loss and metrics on "
                    "random predictions, seeded data reproducible.")
    p.add_argument("targets", nargs="+", metavar="NAME|PATH",
                   help="a registered name, a .py file, a plugin folder or a plugin project")

    p = actions.add_parser("new", help="create a pip-installable plugin package")
    p.add_argument("kind", choices=("cell", "task"))
    p.add_argument("name", metavar="NAME", help="the plugin's name, e.g. my_cell")
    p.add_argument("directory", metavar="DIR", help="a new or empty folder")

    for action, verb in (("enable", "re-enable"), ("disable", "disable")):
        p = actions.add_parser(action, help=f"{verb} plugins by name in the settings file")
        p.add_argument("names", nargs="+", metavar="NAME")

    parser.set_defaults(handler=run, plugins_parser=parser)
    return parser


def run(args) -> int:
    action = getattr(args, "action", None)
    if action is None:
        args.plugins_parser.print_help()
        return 2
    return {"list": _list, "check": _check, "new": _new,
            "enable": _enable, "disable": _disable}[action](args)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 3, 1)] + "..."


def format_table(rows: list[dict[str, str]], full: bool = False, width: int = 0) -> str:
    """A plain-text table of plugin records; the error column fits ``width`` unless ``full``."""
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in COLUMNS[:-1]}
    used = sum(widths.values()) + 2 * len(widths)
    room = max(width - used, 30)
    lines = []
    for r in [dict(zip(COLUMNS, (c.upper() for c in COLUMNS))), *rows]:
        err = r["error"] if full else _shorten(r["error"], room)
        cells = [r[c].ljust(widths[c]) for c in COLUMNS[:-1]] + [err]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _list(args) -> int:
    from ..engine import registry
    from ..engine.settings import settings_path

    records = sorted(registry.plugins(args.kind), key=lambda r: (r.kind or "~", r.name))
    rows = [{"name": r.name, "kind": r.kind or "-", "version": r.version, "source": r.source,
             "status": r.status, "error": r.error} for r in records]
    if args.json:
        for row, r in zip(rows, records):
            row["description"] = r.description
            row["target"] = r.target
        print(json.dumps(rows, indent=2))
        return 0
    width = shutil.get_terminal_size((120, 24)).columns
    print(format_table(rows, full=args.full, width=width))
    folders = [str(p) for p in registry.plugin_paths()]
    print(f"\nplugin folders: {', '.join(folders) or 'none'} "
          f"(RNNLAB_PLUGIN_PATH, plugin_paths in {settings_path()})")
    return 0


def _check(args) -> int:
    from ..checks import check_target

    failed = 0
    for target in args.targets:
        for result in check_target(target):
            p = result.plugin
            what = f"{p.kind} {p.name}" if p.kind else p.name
            print(f"{what} ({p.target or p.source})")
            for stage in result.stages:
                mark = "ok  " if stage.ok else "FAIL"
                detail = f": {stage.detail}" if stage.detail else ""
                print(f"  {mark} {stage.name}{detail}")
            print(f"  => {'passed' if result.ok else 'FAILED'}")
            failed += not result.ok
    if failed:
        print(f"{failed} plugin(s) failed their checks", file=sys.stderr)
    return 1 if failed else 0


def _new(args) -> int:
    from .. import scaffold
    from ..engine import registry

    try:
        scaffold.check_name(args.name)
        taken = [r for r in registry.plugins() if r.name == args.name and r.status == "ok"]
        if taken:
            raise ValueError(f"NAME: {args.name!r} is already registered by {taken[0].source}; "
                             "expected a new name")
        files = scaffold.create(args.kind, args.name, args.directory)
    except (ValueError, FileExistsError) as exc:
        print(f"rnnlab plugins new: {exc}", file=sys.stderr)
        return 2
    root = files[0].parent
    print(f"created a {args.kind} plugin package in {root}:")
    for f in files:
        print(f"  {f.relative_to(root)}")
    print(f"next: pip install -e {root} && rnnlab plugins check {args.name} "
          f"&& (cd {root} && pytest)")
    return 0


def _set(names: list[str], disabled: bool) -> int:
    from ..engine import registry
    from ..engine.settings import settings_path

    try:
        registry.set_disabled(names, disabled)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = "disabled" if disabled else "enabled"
    print(f"{state} {', '.join(names)} in {settings_path()}")
    env = {n.strip() for n in os.environ.get("RNNLAB_DISABLE_PLUGINS", "").split(",")}
    still = sorted(set(names) & env) if not disabled else []
    if still:
        print(f"note: still disabled by RNNLAB_DISABLE_PLUGINS: {', '.join(still)}",
              file=sys.stderr)
    return 0


def _enable(args) -> int:
    return _set(args.names, disabled=False)


def _disable(args) -> int:
    return _set(args.names, disabled=True)
