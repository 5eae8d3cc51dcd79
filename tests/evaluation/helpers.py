"""Test doubles and runners shared by the evaluation tests (importable by subprocesses as ``tests.evaluation.helpers``).

- :class:`SlowSaliency`: saliency that takes a fixed time per call in reported steps, a stand-in for a long attack so a
  test can kill or signal a run in the middle of a batch;
- :class:`SignalingSaliency`: saliency that sends a signal to its own process on its ``n``-th call (an in-process
  SIGTERM arriving in the middle of a batch);
- :func:`train_checkpoint`: a MnistCNN trained briefly on generated class patterns, saved as a Lightning checkpoint.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch
from lightning.pytorch import Trainer
from torch import Tensor, nn

from robattr.attribution import Saliency
from robattr.data import SyntheticImages
from robattr.models import MnistCNN
from robattr.progress import report
from robattr.training import NaturalTraining


class SlowSaliency(Saliency):
    """:class:`~robattr.attribution.Saliency` that sleeps ``seconds`` per call, in ``steps`` reported steps."""

    def __init__(self, seconds: float = 0.0, steps: int = 1) -> None:
        super().__init__()
        self.seconds, self.steps = seconds, steps

    def _attribute(self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool) -> Tensor:
        for i in range(self.steps):
            time.sleep(self.seconds / self.steps)
            report("slow saliency", i + 1, self.steps)
        return super()._attribute(model, inputs, target, create_graph=create_graph)


class SignalingSaliency(Saliency):
    """:class:`~robattr.attribution.Saliency` that sends ``signum`` to its own process on call number ``at_call``.

    ``at_call`` and ``signum`` are class attributes set by the test (``None``: never), so they stay out of the job's
    configuration and an interrupted run and its rerun have the same fingerprint.
    """

    at_call: int | None = None
    signum: int = int(signal.SIGTERM)

    def __init__(self) -> None:
        super().__init__()
        self._calls = 0

    def _attribute(self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool) -> Tensor:
        self._calls += 1
        if self._calls == type(self).at_call:
            os.kill(os.getpid(), type(self).signum)
            report("signalling saliency", 1, 1)  # the listener sees the signal at the next step
        return super()._attribute(model, inputs, target, create_graph=create_graph)


def train_checkpoint(path: Path, num_classes: int = 10) -> Path:
    """Train a MnistCNN for 3 epochs on generated 28x28 class patterns and save it to ``path``."""
    torch.manual_seed(0)
    module = NaturalTraining(MnistCNN(num_classes=num_classes), num_classes=num_classes, num_vis=0)
    trainer = Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        inference_mode=False,
        limit_val_batches=0,
    )
    data = SyntheticImages(num_classes=num_classes, train_size=256, val_size=16, test_size=13, batch_size=32, seed=0)
    trainer.fit(module, data)
    trainer.save_checkpoint(path)
    return path
