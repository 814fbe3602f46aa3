"""Whether a forward keeps what its backward needs: :class:`no_grad` turns that off."""

from __future__ import annotations

import functools
import threading


class _State(threading.local):
    enabled: bool = True  # a class default: each thread starts with gradients on

    def __init__(self):
        self.saved: list[bool] = []  # what each open no_grad block replaced, innermost last


_state = _State()


def is_grad_enabled() -> bool:
    """False inside a :class:`no_grad` block of the calling thread."""
    return _state.enabled


def missing_forward(what: str, under_no_grad: bool) -> RuntimeError:
    """The error of a backward (or ``trace()``) with nothing kept to work on:
    ``under_no_grad`` when the last forward ran inside :class:`no_grad`."""
    if under_no_grad:
        return RuntimeError(
            f"{what} needs what a forward keeps, and the last forward ran under "
            "rnnlab.no_grad(), which keeps nothing: run it outside no_grad() first")
    return RuntimeError(f"{what} called before forward()")


class no_grad:
    """Inference: forwards run in this block keep nothing for ``backward()`` or ``trace()``.

    The recurrent layers then skip storing the steps' gates and cell states where the step
    product gives them whole (several sequences, a small input) and the copies that protect
    what they keep, and ``Linear``, ``Embedding`` and ``LastStep`` keep nothing either: less
    memory and faster. A ``backward()`` after such a forward raises. Like
    ``torch.no_grad``: a context manager or a decorator of functions; it nests, an instance
    may be reused, and it holds for the calling thread only.

    >>> with rnnlab.no_grad():
    ...     out, h_n = lstm(x)
    """

    def __enter__(self) -> no_grad:
        _state.saved.append(_state.enabled)
        _state.enabled = False
        return self

    def __exit__(self, *exc) -> None:
        _state.enabled = _state.saved.pop()

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with no_grad():
                return func(*args, **kwargs)

        return wrapper
