"""Progress of the neuron jobs' passes over the probing set: tqdm bars, step reports, or a few summary lines.

Every loop over batches in :mod:`robattr.neurons` (the threshold passes and the IoU pass of a dissection, the noise and
attack passes, the exemplar masks, the accuracy passes) iterates through :func:`track`, which

- calls :func:`robattr.progress.report` after each batch, so a job's listener sees every step (and may stop the work
  between two batches by raising :class:`robattr.progress.Interrupted`);
- with ``progress=True`` shows a tqdm bar (task, batch i of n, time left);
- with ``progress=False`` (logs, CI) logs one summary line when the pass ends and, for a pass longer than
  ``interval`` seconds, a line with the position and the time left every ``interval`` seconds, so no phase is silent
  for more than a minute or two.

Lines go through Lightning's rank-zero logger (``lightning.pytorch.utilities.rank_zero``), as the jobs' other lines.

Example:
    >>> from robattr.progress import listen
    >>> seen = []
    >>> with listen(lambda task, step, total: seen.append((step, total))):
    ...     batches = [b for b in track(["a", "b", "c"], "pool: IoU pass", progress=False)]
    >>> seen
    [(1, 3), (2, 3), (3, 3)]
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from lightning.pytorch.utilities import rank_zero_info
from tqdm.auto import tqdm

from robattr.progress import report

T = TypeVar("T")

INTERVAL_S = 60.0


def _duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def track(
    iterable: Iterable[T],
    task: str,
    progress: bool = False,
    total: int | None = None,
    unit: str = "batch",
    interval: float = INTERVAL_S,
) -> Iterator[T]:
    """Iterate over ``iterable`` reporting each finished step (see the module docstring).

    Args:
        iterable: the batches (a DataLoader, a list ...).
        task: what the pass does, shown on the bar and in the lines (``"net.layer4: IoU pass"``).
        progress: a tqdm bar (``True``) or summary lines (``False``).
        total: the number of steps (default: ``len(iterable)`` when it has one).
        unit: the name of a step.
        interval: seconds between two position lines of a long pass when ``progress`` is off.
    """
    if total is None:
        total = len(iterable) if hasattr(iterable, "__len__") else 0  # type: ignore[arg-type]
    start = last = time.monotonic()
    source = tqdm(iterable, desc=task, total=total or None, leave=False, unit=unit) if progress else iterable
    step = 0
    for item in source:
        yield item
        step += 1
        report(task, step, total)
        now = time.monotonic()
        if not progress and now - last >= interval:
            last = now
            left = (now - start) / step * (total - step) if total else 0.0
            of = f"/{total}" if total else ""
            rank_zero_info(f"{task}: {unit} {step}{of}, {_duration(now - start)} so far, about {_duration(left)} left")
    if not progress:
        units = unit if step == 1 else unit + ("es" if unit.endswith(("ch", "sh", "s", "x")) else "s")
        rank_zero_info(f"{task}: {step} {units} in {_duration(time.monotonic() - start)}")


__all__ = ["track"]
