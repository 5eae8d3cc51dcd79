import pytest
import torch
from lightning.pytorch import LightningDataModule, Trainer
from torch.utils.data import DataLoader, TensorDataset

from robattr.attacks import PGD
from robattr.models import MnistCNN
from robattr.training import IGNormTraining, IGSumNormTraining, NaturalTraining, PGDTraining


class TinyData(LightningDataModule):
    """Generated 28x28 digits-like data: a class-dependent bright square plus noise."""

    def __init__(self, n: int = 24) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(n) % 10
        self.x = torch.rand(n, 1, 28, 28, generator=g) * 0.2
        for i, c in enumerate(self.y.tolist()):
            self.x[i, 0, 2 * c : 2 * c + 6, 4:10] = 1.0

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.x, self.y), batch_size=8)

    val_dataloader = test_dataloader = train_dataloader


def attack():
    return PGD(eps=0.3, step_size=0.1, steps=2, keep_best=False)


MODULES = {
    "natural": lambda: NaturalTraining(MnistCNN(), num_vis=4, vis_ig_steps=4),
    "pgd": lambda: PGDTraining(MnistCNN(), attack=attack(), val_attack=attack(), num_vis=0),
    "ig_norm": lambda: IGNormTraining(
        MnistCNN(), attack=attack(), lam=1.0, ig_steps=4, approx_factor=2, loss_reduction="sum"
    ),
    "ig_sum_norm": lambda: IGSumNormTraining(MnistCNN(), attack=attack(), beta=0.1, ig_steps=4, approx_factor=2),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_takes_steps_with_finite_loss(name, tmp_path):
    module = MODULES[name]()
    before = [p.detach().clone() for p in module.parameters()]
    trainer = Trainer(
        max_steps=3,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        inference_mode=False,
        default_root_dir=tmp_path,
        accelerator="cpu",
    )
    trainer.fit(module, TinyData())
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert any(not torch.equal(b, p) for b, p in zip(before, module.parameters()))


def test_ig_sum_norm_regulariser_reaches_the_parameters():
    module = IGSumNormTraining(MnistCNN(), attack=attack(), beta=0.1, ig_steps=4, approx_factor=2)
    data = TinyData(8)
    x, y = data.x, data.y
    x_adv = module.attack(module.net, x, y)
    reg = module.ig_norm(module.ig, x, x_adv, y, create_graph=True).sum()
    weights = [p for p in module.net.parameters() if p.dim() > 1]
    grads = torch.autograd.grad(reg, weights)
    assert all(g.abs().sum() > 0 for g in grads)


def test_ig_sum_norm_with_beta_zero_is_madry():
    torch.manual_seed(1)
    net = MnistCNN()
    data = TinyData(8)
    x, y = data.x, data.y
    pgd = PGD(eps=0.3, step_size=0.1, steps=3, random_start=False, keep_best=False)
    rar = IGSumNormTraining(net, attack=pgd, beta=0.0, ig_steps=4, approx_factor=2)
    madry = PGDTraining(net, attack=pgd)
    torch.testing.assert_close(rar.compute_loss(x, y)[0], madry.compute_loss(x, y)[0])


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^Expected `beta` to be a non-negative float, but got -1.0$"):
        IGSumNormTraining(MnistCNN(), attack=attack(), beta=-1.0)
    with pytest.raises(
        ValueError, match=r"^Expected `approx_factor` to be a positive divisor of `ig_steps`=50, but got 7$"
    ):
        IGNormTraining(MnistCNN(), attack=attack(), approx_factor=7)
    with pytest.raises(ValueError, match=r"^Expected `loss_reduction` to be one of \['mean', 'sum'\], but got 'max'$"):
        NaturalTraining(MnistCNN(), loss_reduction="max")
