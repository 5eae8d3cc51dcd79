"""A checkpoint writer that pauses half-way through one save, so a test can ``kill -9`` the process inside it.

Used by the fault tests in a subprocess (``--trainer.plugins slow_checkpoint_io.PausingCheckpointIO``, with this
folder on ``PYTHONPATH``). ``PAUSE_AT_SAVE=n`` pauses in the n-th write of ``last.ckpt``: half of the bytes are in
the file, ``PAUSED IN SAVE`` is printed, and the process sleeps until killed.
"""

from __future__ import annotations

import io
import os
import sys
import time

import torch

from robattr.training.checkpointing import AtomicCheckpointIO


class PausingCheckpointIO(AtomicCheckpointIO):
    def __init__(self) -> None:
        super().__init__()
        self.pause_at = int(os.environ.get("PAUSE_AT_SAVE", "0"))
        self.last_writes = 0

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        self.current = os.path.basename(str(path))
        super().save_checkpoint(checkpoint, path, storage_options)

    def write(self, checkpoint, f) -> None:
        if self.current == "last.ckpt":
            self.last_writes += 1
        if self.last_writes != self.pause_at or self.current != "last.ckpt":
            super().write(checkpoint, f)
            return
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        print("PAUSED IN SAVE", flush=True)
        sys.stderr.flush()
        time.sleep(600)
