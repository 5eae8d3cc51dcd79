import re

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import RandomSampler, SequentialSampler

from robattr.data import DATAMODULES, ImageDataModule, MNIST5k, SyntheticImages


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": -1}, ValueError, "Expected `batch_size` to be an integer >= 1, but got -1"),
        ({"batch_size": 1.5}, TypeError, "Expected `batch_size` to be an integer >= 1, but got 1.5"),
        ({"eval_batch_size": 0}, ValueError, "Expected `eval_batch_size` to be an integer >= 1, but got 0"),
        ({"num_workers": -2}, ValueError, "Expected `num_workers` to be an integer >= 0, but got -2"),
        ({"seed": -1}, ValueError, "Expected `seed` to be an integer >= 0, but got -1"),
    ],
)
def test_common_arguments_are_validated(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        SyntheticImages(**kwargs)


def test_dataloaders() -> None:
    dm = SyntheticImages(train_size=40, val_size=20, test_size=30, batch_size=8, eval_batch_size=16)
    dm.setup()
    train, val, test = dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()
    assert isinstance(train.sampler, RandomSampler) and isinstance(val.sampler, SequentialSampler)
    assert (train.batch_size, val.batch_size, test.batch_size) == (8, 16, 16)
    assert not train.persistent_workers and train.num_workers == 0
    x, y = next(iter(test))
    assert x.shape == (16, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64 and y.shape == (16,)
    assert len(dm.predict_dataloader().dataset) == 30


def test_persistent_workers_only_with_workers() -> None:
    dm = SyntheticImages(train_size=8, val_size=0, test_size=8, num_workers=2)
    loader = dm.train_dataloader()  # built, never iterated: no worker process starts
    assert loader.persistent_workers and loader.num_workers == 2
    assert dm.eval_batch_size == dm.batch_size == 64


def test_dataset_rejects_unknown_split() -> None:
    with pytest.raises(ValueError, match=r"^Expected `split` to be one of \('train', 'val', 'test'\), but got 'dev'$"):
        SyntheticImages().dataset("dev")


def test_registry_lists_every_datamodule() -> None:
    assert set(DATAMODULES) == {"mnist5k", "mnist", "flower17", "flower102", "cifar10", "imagenet", "synthetic"}
    assert all(issubclass(cls, ImageDataModule) for cls in DATAMODULES.values())


@pytest.mark.parametrize("name", sorted(DATAMODULES))
def test_shape_and_classes_known_before_setup(name: str, tmp_path) -> None:
    kwargs = {} if name in ("mnist5k", "synthetic") else {"data_dir": tmp_path}
    dm = DATAMODULES[name](**kwargs)
    assert isinstance(dm.num_classes, int) and len(dm.input_shape) == 3 and dm.train_set is None
    if name != "imagenet":  # ImageNet's class names are its folder names, read at setup
        assert len(dm.class_names) == dm.num_classes


class _Linear(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/acc", (self.net(x).argmax(1) == y).float().mean())

    test_step = validation_step

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("name", ["synthetic", "mnist5k"])
def test_runs_under_a_trainer(name: str, tmp_path) -> None:
    if name == "synthetic":
        datamodule = SyntheticImages(train_size=16, val_size=8, test_size=8, batch_size=8)
    else:
        datamodule = MNIST5k()
    trainer = Trainer(
        fast_dev_run=True,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(_Linear(), datamodule=datamodule)
    trainer.test(_Linear(), datamodule=datamodule, verbose=False)
