"""What an evaluation shows while it works, and how it stops within seconds on SIGTERM / SIGINT.

During each test batch the job runs its phases (one per attribution method and attack, or per method and
re-calibration mode) inside :meth:`EvaluationMonitor.phase`. The monitor listens to :func:`robattr.progress.report`,
which attacks and attributions call once per step, and

- with progress bars on, drives a tqdm bar under Lightning's test bar: batch, phase, task, step ``i/n`` and the
  time left;
- with progress bars off (CI logs, ``--trainer.enable_progress_bar false``), prints one line per phase and batch
  (``batch 1/10 ig/topk: 50 images, 12.3 s``) through Lightning's rank-zero logging, and a line with the step and
  the time left whenever a phase has been silent for ``heartbeat_s`` seconds;
- on SIGTERM or SIGINT sets a flag and raises :class:`robattr.progress.Interrupted` at the next step, so the job
  stops between two attack steps instead of at the end of the batch. Lightning's own SIGTERM handler (which
  forwards the signal to the other DDP processes) still runs once. A second SIGINT stops at once.

Example:
    >>> from robattr.progress import report
    >>> monitor = EvaluationMonitor(show_bar=False, rank_zero=False)
    >>> with monitor.batch(0, 1), monitor.phase("ig/topk", 4):
    ...     report("attack step", 1, 2)
    >>> monitor.signum is None
    True
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lightning.pytorch.utilities import rank_zero_info

from robattr.progress import Interrupted, listen

SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class EvaluationMonitor:
    """Progress display and signal handling of one evaluation run (see the module docstring).

    Args:
        show_bar: draw tqdm bars (rank zero only); otherwise print summary lines.
        rank_zero: whether this process prints (bars and lines come from rank zero only; every rank stops on a
            signal).
        heartbeat_s: longest silence of a phase, in seconds, when bars are off.
        external_stop: returns True when a stop was requested elsewhere (Lightning's ``trainer.received_sigterm``).
    """

    def __init__(
        self,
        show_bar: bool,
        rank_zero: bool = True,
        heartbeat_s: float = 60.0,
        external_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.show_bar = show_bar and rank_zero
        self.print_lines = not show_bar and rank_zero
        self.heartbeat_s = heartbeat_s
        self.external_stop = external_stop or (lambda: False)
        self.signum: int | None = None
        self.where = ""
        self._batch, self._num_batches = 0, None
        self._phase: str | None = None
        self._tasks: dict[str, dict[str, Any]] = {}
        self._last_line = time.monotonic()
        self._chained: set[int] = set()

    # --- context managers -----------------------------------------------------------------------------------------

    @contextmanager
    def batch(self, index: int, num_batches: int | None) -> Iterator[None]:
        """Run one test batch: signal handlers and the step listener are installed for its duration."""
        self._batch, self._num_batches = index, num_batches
        self.where = f"batch {self._batch_text()}"
        self.check()
        previous = self._install_handlers()
        try:
            with listen(self._on_step):
                yield
        finally:
            self._restore_handlers(previous)
            self._close_bars()

    @contextmanager
    def phase(self, name: str, n_images: int) -> Iterator[None]:
        """One (method, attack) pair of the current batch: a bar, or a summary line when it ends."""
        self.check()
        self._close_bars()
        self._phase = name
        self.where = f"batch {self._batch_text()}, {name}"
        start = self._last_line = time.monotonic()
        try:
            yield
        finally:
            self._close_bars()
            self._phase = None
        if self.print_lines:
            rank_zero_info(
                f"batch {self._batch_text()} {name}: {n_images} image{'s' if n_images != 1 else ''}, "
                f"{_duration(time.monotonic() - start)}"
            )
        self.check()

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal (or Lightning's SIGTERM flag) asked to stop."""
        if self.signum is None and self.external_stop():
            self.signum = signal.SIGTERM
        if self.signum is not None:
            error = Interrupted(f"Evaluation stopped by {signal.Signals(self.signum).name} during {self.where}")
            error.signum = self.signum  # type: ignore[attr-defined]  # the CLI may exit with 128 + signum
            raise error

    # --- progress -------------------------------------------------------------------------------------------------

    def _batch_text(self) -> str:
        total = self._num_batches
        return f"{self._batch + 1}/{total}" if isinstance(total, int) else f"{self._batch + 1}"

    def _on_step(self, task: str, step: int, total: int) -> None:
        self.check()
        now = time.monotonic()
        state = self._tasks.get(task)
        if state is None or step < state["step"]:  # a new task, or the same loop started again (next restart)
            if state is not None and state["bar"] is not None:
                state["bar"].reset(total=total)
            bar = state["bar"] if state is not None else None
            state = self._tasks[task] = {"start": now, "step": step, "total": total, "bar": bar}
        state["step"], state["total"] = step, total
        if self.show_bar:
            self._update_bar(task, state)
        elif self.print_lines and now - self._last_line >= self.heartbeat_s:
            phase = f" {self._phase}" if self._phase else ""
            rank_zero_info(f"batch {self._batch_text()}{phase}: {self._task_text(now)}")
            self._last_line = now

    def _task_text(self, now: float) -> str:
        """``attack:topk 40/100 (about 1 min 30 s left), ig 3/5 (...)``: every loop of the phase so far."""
        parts = []
        for task, state in self._tasks.items():
            step, total = state["step"], state["total"]
            left = (now - state["start"]) / max(step, 1) * max(total - step, 0)
            parts.append(f"{task} {step}/{total} (about {_duration(left)} left)")
        return ", ".join(parts)

    def _update_bar(self, task: str, state: dict[str, Any]) -> None:
        """One bar per loop of the phase (an attack and the attribution inside it), under Lightning's test bar."""
        if state["bar"] is None:
            from tqdm import tqdm

            phase = f" {self._phase}" if self._phase else ""
            state["bar"] = tqdm(
                total=state["total"],
                desc=f"batch {self._batch_text()}{phase} {task}",
                position=1 + list(self._tasks).index(task),
                leave=False,
                dynamic_ncols=True,
            )
        bar = state["bar"]
        if bar.total != state["total"]:
            bar.total = state["total"]
        bar.n = state["step"]
        bar.refresh()

    def _close_bars(self) -> None:
        for state in self._tasks.values():
            if state["bar"] is not None:
                state["bar"].close()
                state["bar"] = None
        self._tasks = {}

    # --- signals --------------------------------------------------------------------------------------------------

    def _install_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in SIGNALS:
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._make_handler(previous[signum]))
        return previous

    @staticmethod
    def _restore_handlers(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _make_handler(self, previous: Any) -> Callable[[int, Any], None]:
        def handler(signum: int, frame: Any) -> None:
            if signum == signal.SIGINT and self.signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now
            if self.signum is None:
                self.signum = signum
            # Lightning's SIGTERM handler forwards the signal to the other DDP processes: let it run, once
            if signum != signal.SIGINT and signum not in self._chained and callable(previous):
                self._chained.add(signum)
                previous(signum, frame)

        return handler


__all__ = ["EvaluationMonitor"]
