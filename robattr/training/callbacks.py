"""Console lines for runs without progress bars (CI logs, the quickstart): one line per epoch and per validation.

Example:
    >>> summary_line({"train/loss": 0.1234, "val/acc": 0.98}, prefix="epoch 1/3")
    'epoch 1/3  train/loss 0.1234  val/acc 0.9800'
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info

SHOWN = ("train/loss", "train/acc", "val/acc", "val/pgd_acc")


def summary_line(metrics: Mapping[str, Any], prefix: str, keys: tuple[str, ...] = SHOWN) -> str:
    """``prefix`` followed by ``key value`` for each of ``keys`` present in ``metrics`` (4 decimals)."""
    parts = [prefix]
    for key in keys:
        if key in metrics:
            parts.append(f"{key} {float(metrics[key]):.4f}")
    return "  ".join(parts)


class EpochSummary(Callback):
    """With the progress bar off, print one line per training epoch (and per validation inside an epoch).

    ``epoch 3/6  step 240  train/loss 0.0812  train/acc 0.9750  val/acc 0.9820  val/pgd_acc 0.0000  (41 s)``: a run
    logged to a file is never silent for longer than an epoch. Prints nothing while a progress bar is shown.
    """

    def __init__(self) -> None:
        self._start = time.monotonic()

    @staticmethod
    def _silent(trainer: Trainer) -> bool:
        return trainer.progress_bar_callback is not None or trainer.sanity_checking

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.monotonic()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._silent(trainer) or trainer.state.fn != "fit":
            return
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return  # the epoch line follows with these numbers
        line = summary_line(trainer.callback_metrics, f"step {trainer.global_step}", ("val/acc", "val/pgd_acc"))
        rank_zero_info(f"{line}  ({time.monotonic() - self._start:.0f} s into epoch {trainer.current_epoch})")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._silent(trainer):
            return
        total = f"/{trainer.max_epochs}" if trainer.max_epochs not in (None, -1) else ""
        prefix = f"epoch {trainer.current_epoch + 1}{total}  step {trainer.global_step}"
        line = summary_line(trainer.callback_metrics, prefix)
        rank_zero_info(f"{line}  ({time.monotonic() - self._start:.0f} s)")


__all__ = ["EpochSummary", "summary_line"]
