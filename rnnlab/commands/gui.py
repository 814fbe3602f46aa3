"""``rnnlab gui``: the desktop app.

:func:`rnnlab.cli.main` hands everything after ``gui`` straight to the app's own parser
(``rnnlab gui --help``); this entry only lists the command in ``rnnlab --help``.
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    return sub.add_parser("gui", help="open the desktop app (rnnlab gui --help)", add_help=False)
