"""Whether a forward keeps what its backward needs: :class:`no_grad` turns that off."""

from __future__ import annotations

import functools
import threading


class _State(threading.local):
    enabled: bool = True  # a class default: each thread starts with gradients on


_state = _State()


def is_grad_enabled() -> bool:
    """False inside a :class:`no_grad` block of the calling thread."""
    return _state.enabled


class no_grad:
    """Inference: forwards run in this block keep nothing for ``backward()`` or ``trace()``.

    The recurrent layers then skip storing every step's gates and cell states (a step's go
    to scratch rows) and the copies that protect what they keep: less memory and faster.
    A ``backward()`` after such a forward raises. Like ``torch.no_grad``: a context manager
    or a decorator; it nests and holds for the calling thread only.

    >>> with rnnlab.no_grad():
    ...     out, h_n = lstm(x)
    """

    def __enter__(self) -> no_grad:
        self._prev = _state.enabled
        _state.enabled = False
        return self

    def __exit__(self, *exc) -> None:
        _state.enabled = self._prev

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with no_grad():
                return func(*args, **kwargs)

        return wrapper
