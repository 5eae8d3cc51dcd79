"""Checkpoints that survive any kill, and a resumable checkpoint when a run is stopped by SIGTERM or Ctrl-C.

Lightning's default writer saves through a temporary file of the *system* temporary directory and then moves it;
when the checkpoint directory lies on another filesystem that move is a copy, and a ``kill -9`` during it leaves a
truncated ``last.ckpt`` and no good one. :class:`AtomicCheckpointIO` writes each checkpoint to a temporary file in
the checkpoint's own directory, flushes it to disk and renames it into place with :func:`os.replace` (atomic on
POSIX and Windows within one filesystem), so at every instant the path holds either the previous complete
checkpoint or the new one. SIGINT / SIGTERM arriving during a save are delivered right after it, and non-finite
weights are refused.

:class:`SaveOnInterrupt` saves a resumable checkpoint (mid-epoch, with the loop state) to the run's ``last.ckpt``
when Lightning stops a fit on SIGTERM or a ``KeyboardInterrupt`` (SIGINT); ``robattr-train`` then exits with status
``128 + signal``. Resume with ``--ckpt_path last``.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> io = AtomicCheckpointIO()
    >>> io.save_checkpoint({"state_dict": {"w": torch.ones(2)}}, folder / "last.ckpt")
    >>> sorted(p.name for p in folder.iterdir())  # no temporary file left behind
    ['last.ckpt']
    >>> io.save_checkpoint({"state_dict": {"w": torch.tensor([float("nan")])}}, folder / "last.ckpt")
    Traceback (most recent call last):
    ...
    robattr.training.guards.NonFiniteError: Expected finite weights in a checkpoint, but `w` holds NaN or inf: ...
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException

from robattr.training.guards import NonFiniteError, first_non_finite

PARTIAL_PREFIX = ".robattr-partial-"
"""Name prefix of a checkpoint being written (a leftover of a killed save; never a complete checkpoint)."""


def _fsync_directory(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open directories; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def deferred_signals(signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold ``signals`` back for the body and deliver them after it (only in the main thread, where handlers run).

    A Ctrl-C in the middle of ``torch.save`` would otherwise abort the write with an unrelated ``RuntimeError``
    instead of a ``KeyboardInterrupt``, and the run would lose its resumable checkpoint.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in signals}
    previous = {sig: handler for sig, handler in previous.items() if handler is not None}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in received:
            signal.raise_signal(signum)


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`~lightning.fabric.plugins.TorchCheckpointIO` whose saves are atomic in the checkpoint's directory.

    Give it to a Trainer as ``plugins=[AtomicCheckpointIO()]``; ``robattr-train`` installs it unless another
    checkpoint writer is configured. Remote paths (``s3://...``) keep Lightning's own transaction.

    Raises:
        NonFiniteError: from :meth:`save_checkpoint`, for a ``state_dict`` holding NaN or inf (nothing is written).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        name = first_non_finite(checkpoint.get("state_dict", {}))
        if name is not None:
            raise NonFiniteError(
                f"Expected finite weights in a checkpoint, but `{name}` holds NaN or inf: {path} was not written"
            )
        if "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        if storage_options is not None:
            raise TypeError(f"Expected `storage_options` to be None, but got {storage_options!r}")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=PARTIAL_PREFIX, suffix=".tmp", dir=target.parent)
        try:
            with deferred_signals(), os.fdopen(fd, "wb") as f:
                self.write(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
                os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_directory(target.parent)

    def write(self, checkpoint: dict[str, Any], f: IO[bytes]) -> None:
        """Serialise ``checkpoint`` into the open temporary file ``f`` (``torch.save``)."""
        torch.save(checkpoint, f)


def remove_partial_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of saves that a kill interrupted in ``folder``; returns what was removed."""
    removed = sorted(Path(folder).glob(f"{PARTIAL_PREFIX}*.tmp"))
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def last_checkpoint_path(trainer: Trainer) -> Path | None:
    """The run's ``last.ckpt``: in the directory of its ``last`` :class:`ModelCheckpoint`, else of the first one."""
    callbacks = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint) and cb.dirpath]
    if not callbacks:
        return None
    named_last = [cb for cb in callbacks if cb.save_last or cb.filename == ModelCheckpoint.CHECKPOINT_NAME_LAST]
    folder = (named_last or callbacks)[0].dirpath
    return Path(folder) / f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}{ModelCheckpoint.FILE_EXTENSION}"


class SaveOnInterrupt(Callback):
    """Save a resumable checkpoint to the run's ``last.ckpt`` when a fit is stopped by SIGTERM or Ctrl-C.

    Lightning turns SIGTERM into a ``SIGTERMException`` at the next batch boundary and Ctrl-C into a
    ``KeyboardInterrupt``; both reach :meth:`on_exception`. The checkpoint holds the loop state, so
    ``--ckpt_path last`` continues from the interrupted step. After the fit, :attr:`signal` names the signal that
    stopped it (``None`` when none did).
    """

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self.saved: Path | None = None

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            self.signal = signal.SIGTERM
        elif isinstance(exception, KeyboardInterrupt):
            self.signal = signal.SIGINT
        else:
            return
        path = last_checkpoint_path(trainer)
        if trainer.state.fn != "fit" or path is None or first_non_finite(pl_module.state_dict()) is not None:
            return
        trainer.save_checkpoint(path)
        self.saved = path
        rank_zero_info(
            f"Stopped by {self.signal.name} at step {trainer.global_step}: saved {path}; resume with --ckpt_path last"
        )


__all__ = [
    "PARTIAL_PREFIX",
    "AtomicCheckpointIO",
    "SaveOnInterrupt",
    "deferred_signals",
    "last_checkpoint_path",
    "remove_partial_files",
]
