"""Step reports from inside long loops (attack steps, IG chunks, dissection batches), decoupled from who listens.

Loops deep in the library call :func:`report` once per step; they neither print nor log (an attack never logs). A
job that wants progress bars, time estimates or a prompt reaction to SIGTERM installs a listener with
:func:`listen` for the duration of its work. The listener may raise (for example :class:`Interrupted` after a
signal): the exception then leaves the loop between two steps, which is how an evaluation stops within seconds
instead of at the end of a batch of attacks. Without a listener :func:`report` costs one context-variable lookup.

Example:
    >>> seen = []
    >>> with listen(lambda task, step, total: seen.append((task, step, total))):
    ...     for i in range(2):
    ...         report("attack", i + 1, 2)
    >>> seen
    [('attack', 1, 2), ('attack', 2, 2)]
    >>> report("attack", 1, 2)  # nobody listens: nothing happens
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Listener = Callable[[str, int, int], None]
_listener: ContextVar[Listener | None] = ContextVar("robattr_progress_listener", default=None)


class Interrupted(RuntimeError):
    """Raised by a listener to stop the work between two steps (a signal arrived, a time budget ran out)."""


def report(task: str, step: int, total: int) -> None:
    """Tell the current listener, if any, that ``task`` finished ``step`` of ``total`` steps (1-based)."""
    listener = _listener.get()
    if listener is not None:
        listener(task, step, total)


@contextmanager
def listen(listener: Listener | None) -> Iterator[None]:
    """Install ``listener`` for the body of the ``with`` block (``None``: silence); the previous one is restored."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


__all__ = ["Interrupted", "Listener", "listen", "report"]
