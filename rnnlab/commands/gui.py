"""``rnnlab gui``: the desktop app. ``rnnlab.cli.main`` hands ``gui``'s arguments straight to
the app's own parser (``rnnlab gui --help``); this entry lists it in ``rnnlab --help``."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("gui", help="open the desktop app", add_help=False,
                       description="Open the desktop app; see rnnlab gui --help.")
    p.add_argument("app_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=run)
    return p


def run(args) -> int:
    from ..gui.app import main

    return int(main(args.app_args) or 0)
