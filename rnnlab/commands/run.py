"""``rnnlab run``: the app when a display is available, otherwise CLI training of the
default task (what ``make run`` calls)."""

from __future__ import annotations

import argparse
import os


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="open the app, or train the default task without a display")
    p.set_defaults(handler=run)
    return p


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args) -> int:
    from .. import cli

    if has_display():
        return cli.main(["gui"])
    print("no display found: training the default task from the command line "
          "(rnnlab gui opens the app where a display is available)")
    return cli.main(["train", "sine", "--epochs", "8", "--out", "runs/sine", "--force"])
