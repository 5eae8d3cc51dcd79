"""A non-finite loss, gradient or weight stops training at once, naming the step; nothing non-finite is saved."""

from __future__ import annotations

import re

import pytest
import torch
from lightning.pytorch import LightningDataModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from robattr.models import MnistCNN
from robattr.training import NaturalTraining, NonFiniteError
from robattr.training.guards import first_non_finite

HINT = (
    "; the checkpoints written so far hold finite weights. Lower the learning rate, or check the data and the loss "
    "scale (loss_reduction: sum grows with the batch size)."
)


class Digits(LightningDataModule):
    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.x, self.y = x, torch.arange(len(x)) % 10

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.x, self.y), batch_size=4)

    val_dataloader = train_dataloader


def fit(module: NaturalTraining, x: torch.Tensor, tmp_path, max_steps: int = 4) -> Trainer:
    trainer = Trainer(
        max_steps=max_steps,
        val_check_interval=2,
        limit_val_batches=1,
        logger=False,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, filename="last")],
        enable_progress_bar=False,
        enable_model_summary=False,
        inference_mode=False,
        accelerator="cpu",
    )
    trainer.fit(module, Digits(x))
    return trainer


def test_first_non_finite_names_the_tensor():
    assert first_non_finite([("a", torch.ones(2)), ("b", None), ("c", torch.tensor([1.0, float("inf")]))]) == "c"
    assert first_non_finite({"i": torch.tensor([1, 2])}) is None  # integer tensors cannot be non-finite


def test_nan_loss_stops_before_the_update(tmp_path):
    x = torch.rand(16, 1, 28, 28)
    x[0, 0, 0, 0] = float("nan")  # the first batch's loss is NaN
    module = NaturalTraining(MnistCNN(), num_vis=0)
    before = [p.detach().clone() for p in module.parameters()]
    message = "train/loss is nan at step 0 (epoch 0, batch 0): training stopped before this update" + HINT
    with pytest.raises(NonFiniteError, match=f"^{re.escape(message)}$"):
        fit(module, x, tmp_path)
    assert all(torch.equal(b, p) for b, p in zip(before, module.parameters()))  # no update happened
    assert not list(tmp_path.glob("*.ckpt"))


def test_an_update_that_breaks_the_weights_stops_before_any_checkpoint(tmp_path):
    module = NaturalTraining(MnistCNN(), num_vis=0, optimizer=lambda p: torch.optim.SGD(p, lr=float("inf")))
    message = "the weights (net.features.0.weight) became non-finite in the update of step 0 (epoch 0, batch 0)"
    with pytest.raises(NonFiniteError, match=f"^{re.escape(message + ': training stopped' + HINT)}$"):
        fit(module, torch.rand(16, 1, 28, 28), tmp_path)
    assert not list(tmp_path.glob("*.ckpt"))  # the first validation (and checkpoint) would follow step 2


class WithKink(NaturalTraining):
    """A finite loss whose gradient is NaN: d/dz sqrt(|z|) at z = 0."""

    def __init__(self, **kwargs) -> None:
        super().__init__(MnistCNN(), num_vis=0, **kwargs)
        self.z = nn.Parameter(torch.zeros(1))

    def compute_loss(self, x, y):
        loss, logits, extra = super().compute_loss(x, y)
        return loss + self.z.abs().sqrt().sum(), logits, extra


def test_non_finite_gradient_stops_when_asked(tmp_path):
    message = "the gradient of z is non-finite at step 0 (epoch 0): training stopped before this update" + HINT
    with pytest.raises(NonFiniteError, match=f"^{re.escape(message)}$"):
        fit(WithKink(check_finite_grads=True), torch.rand(16, 1, 28, 28), tmp_path)
    # without the gradient check the weight check catches the same step, after the update
    with pytest.raises(NonFiniteError, match=re.escape("the weights (z) became non-finite in the update of step 0")):
        fit(WithKink(), torch.rand(16, 1, 28, 28), tmp_path)


def test_finite_training_saves_finite_checkpoints(tmp_path):
    fit(NaturalTraining(MnistCNN(), num_vis=0), torch.rand(16, 1, 28, 28), tmp_path)
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 4 and first_non_finite(saved["state_dict"]) is None


def test_bad_guard_argument():
    with pytest.raises(TypeError, match=re.escape("Expected `check_finite_grads` to be a bool, but got 'yes'")):
        NaturalTraining(MnistCNN(), check_finite_grads="yes")
