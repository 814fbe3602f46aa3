"""The ``rnnlab`` command: argparse wiring of the command groups in :mod:`rnnlab.commands`.

Each group is a module there with ``add_parser(subparsers)`` (registering its subcommand and
setting its ``run(args) -> int`` as the handler); heavy imports stay inside ``run`` so that
``rnnlab --help`` stays fast. ``gui`` is handed to the app's own parser before argparse.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

#: command modules, in the order ``rnnlab --help`` lists them; a new group is a module in
#: rnnlab.commands plus its name here
COMMANDS = ("run", "gui", "train", "evaluate", "plugins")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="Train and understand recurrent networks on the CPU.")
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"rnnlab.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["gui"]:
        from .gui.app import main as app_main

        return int(app_main(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
