"""The shared classifier module: a cheaper validation attack on a few batches, a separate test attack, epoch lines."""

from __future__ import annotations

import re

import pytest
import torch
from lightning.pytorch import LightningDataModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from robattr.attacks import PGD
from robattr.models import MnistCNN
from robattr.training import NaturalTraining
from robattr.training.callbacks import EpochSummary, summary_line


class CountingPGD(PGD):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.images = 0

    def __call__(self, model, x, y, *args, **kwargs):
        self.images += len(x)
        return super().__call__(model, x, y, *args, **kwargs)


class Digits(LightningDataModule):
    def __init__(self) -> None:
        super().__init__()
        self.x, self.y = torch.rand(24, 1, 28, 28), torch.arange(24) % 10

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.x, self.y), batch_size=8)

    val_dataloader = test_dataloader = train_dataloader


def trainer(**kwargs) -> Trainer:
    defaults = dict(logger=False, enable_checkpointing=False, enable_model_summary=False, inference_mode=False)
    return Trainer(accelerator="cpu", **{"enable_progress_bar": False, **defaults, **kwargs})


def test_the_validation_attack_runs_on_the_first_batches_only_and_the_test_attack_on_all():
    val_attack = CountingPGD(eps=0.3, step_size=0.1, steps=1)
    test_attack = CountingPGD(eps=0.3, step_size=0.1, steps=2)
    module = NaturalTraining(
        MnistCNN(), val_attack=val_attack, val_attack_batches=1, test_attack=test_attack, num_vis=0
    )
    run = trainer(max_steps=3, num_sanity_val_steps=0)
    run.fit(module, Digits())
    assert val_attack.images == 8  # one validation after 3 steps: the first batch of 8 (of 24) is attacked
    assert run.callback_metrics["val/acc"] is not None  # on all 24 images
    run.test(module, Digits(), verbose=False)
    assert test_attack.images == 24 and val_attack.images == 8


def test_without_a_test_attack_the_validation_attack_is_used_on_the_whole_test_set():
    val_attack = CountingPGD(eps=0.3, step_size=0.1, steps=1)
    module = NaturalTraining(MnistCNN(), val_attack=val_attack, val_attack_batches=1, num_vis=0)
    trainer().test(module, Digits(), verbose=False)
    assert val_attack.images == 24


def test_bad_val_attack_batches():
    message = "Expected `val_attack_batches` to be None or an integer >= 1, but got 0"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        NaturalTraining(MnistCNN(), val_attack_batches=0)


def test_one_summary_line_per_epoch_without_a_progress_bar(rank_zero_lines):
    module = NaturalTraining(MnistCNN(), num_vis=0)
    trainer(max_epochs=2, callbacks=[EpochSummary()], limit_train_batches=2).fit(module, Digits())
    lines = [line for line in rank_zero_lines if line.startswith("epoch ")]
    assert len(lines) == 2
    number = r"\d+\.\d{4}"
    expected = rf"epoch 2/2  step 4  train/loss {number}  train/acc {number}  val/acc {number}  \(\d+ s\)"
    assert re.fullmatch(expected, lines[1]), lines[1]
    rank_zero_lines.clear()
    trainer(max_epochs=1, callbacks=[EpochSummary()], limit_train_batches=2, enable_progress_bar=True).fit(
        NaturalTraining(MnistCNN(), num_vis=0), Digits()
    )
    assert not [line for line in rank_zero_lines if line.startswith("epoch ")]  # the bar shows it


def test_summary_line_skips_what_was_not_logged():
    line = summary_line({"val/acc": torch.tensor(0.5)}, "step 3", ("val/acc", "val/pgd_acc"))
    assert line == "step 3  val/acc 0.5000"
