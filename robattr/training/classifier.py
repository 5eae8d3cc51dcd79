"""The shared classifier LightningModule: metrics, validation under PGD, IG map grids."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
import torchvision
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from robattr.attacks import PGD
from robattr.attribution import IntegratedGradients, attribution_map
from robattr.checks import check_bool, check_choice, check_int, check_optional_int
from robattr.training.guards import NonFiniteError, first_non_finite

LossReduction = Literal["mean", "sum"]


def reduce_batch(values: Tensor, reduction: LossReduction) -> Tensor:
    """Mean or sum over the batch (RAR sums; see the training modules' docstrings)."""
    return values.sum() if reduction == "sum" else values.mean()


class ClassifierModule(LightningModule):
    """Base LightningModule of every training mode: subclasses override only :meth:`compute_loss`.

    Logs ``train/loss``, ``train/acc``, ``val/acc``, ``val/pgd_acc`` (when ``val_attack`` is set) and, at the end of
    each validation epoch, a TensorBoard image grid of the inputs and their IG maps for a fixed validation batch.
    ``test`` logs ``test/acc`` and ``test/pgd_acc``. Attacks run with ``torch.enable_grad()``: the trainer must run
    with ``inference_mode=False`` (robattr's configs set it).

    Args:
        net: the classifier (inputs in ``[0, 1]``, normalisation inside).
        num_classes: number of classes (for the accuracy metrics).
        optimizer: optimizer factory (LightningCLI ``class_path`` / ``init_args``), default ``torch.optim.Adam``.
        lr_scheduler: optional scheduler factory, stepped every optimizer step.
        val_attack: PGD of the ``val/pgd_acc`` metric, and of ``test/pgd_acc`` unless ``test_attack`` is given
            (``None``: skip).
        val_attack_batches: attack only the first this many validation batches (``val/pgd_acc`` is then the PGD
            accuracy of those images; ``val/acc`` always covers the whole validation set). ``None``: every batch.
            A PGD of 40 steps on every validation image costs more than a training epoch of a small CNN.
        test_attack: PGD of ``test/pgd_acc`` (``None``: ``val_attack``), so validation can use a cheaper attack
            than the reported test number.
        loss_reduction: ``mean`` or ``sum`` of the per-sample losses over the batch.
        num_vis: images in the IG map grid (0 disables it).
        vis_ig_steps: IG steps for the map grid.
        eps_warmup_steps: training attacks (PGD, RAR's inner maximisation) ramp ``eps`` and ``step_size`` linearly
            from 0 to their configured values over this many optimizer steps. 0 (RAR's setting) disables it; the
            short CPU quickstarts use it because PGD training at eps 0.3 from scratch stalls for thousands of steps.
        check_finite_grads: also stop at the first non-finite gradient (off by default: with fp16 mixed precision
            the gradient scaler skips such steps on purpose). The loss is always checked before the update and the
            weights after it.

    Raises:
        NonFiniteError: during training, at the first non-finite loss (or gradient, or weight after an update),
            naming the step; the weights written to checkpoints before it are finite.
    """

    def __init__(
        self,
        net: nn.Module,
        num_classes: int = 10,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        val_attack: PGD | None = None,
        loss_reduction: LossReduction = "mean",
        num_vis: int = 16,
        vis_ig_steps: int = 50,
        eps_warmup_steps: int = 0,
        check_finite_grads: bool = False,
        val_attack_batches: int | None = None,
        test_attack: PGD | None = None,
    ) -> None:
        super().__init__()
        check_choice("loss_reduction", loss_reduction, ["mean", "sum"])
        check_int("num_classes", num_classes, minimum=2)
        check_int("eps_warmup_steps", eps_warmup_steps, minimum=0)
        check_int("num_vis", num_vis, minimum=0)
        check_int("vis_ig_steps", vis_ig_steps, minimum=1)
        check_bool("check_finite_grads", check_finite_grads)
        check_optional_int("val_attack_batches", val_attack_batches, minimum=1)
        self.save_hyperparameters(logger=False)
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        self.val_attack = val_attack
        self.val_attack_batches = val_attack_batches
        self.test_attack = test_attack
        self.loss_reduction = loss_reduction
        self.num_vis = num_vis
        self.eps_warmup_steps = eps_warmup_steps
        self.check_finite_grads = check_finite_grads
        self.vis_ig = IntegratedGradients(n_steps=vis_ig_steps)
        acc = MulticlassAccuracy(num_classes, average="micro")
        self.train_acc, self.val_acc, self.test_acc = acc.clone(), acc.clone(), acc.clone()
        self.val_pgd_acc, self.test_pgd_acc = acc.clone(), acc.clone()
        self._vis_batch: tuple[Tensor, Tensor] | None = None

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_attack(self, attack: PGD) -> PGD:
        """``attack`` with ``eps`` ramped up over the first ``eps_warmup_steps`` optimizer steps."""
        if self.eps_warmup_steps == 0 or self.global_step >= self.eps_warmup_steps:
            return attack
        return attack.scaled((self.global_step + 1) / (self.eps_warmup_steps + 1))

    def compute_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Return ``(loss, logits on the clean batch, extra scalars to log)``. Natural training by default."""
        logits = self.net(x)
        return reduce_batch(F.cross_entropy(logits, y, reduction="none"), self.loss_reduction), logits, {}

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        loss, logits, extra = self.compute_loss(x, y)
        if self._any_rank(not bool(torch.isfinite(loss.detach()))):
            raise NonFiniteError(
                f"train/loss is {loss.item()} at step {self.global_step} (epoch {self.current_epoch}, batch "
                f"{batch_idx}): training stopped before this update{self._STOP_HINT}"
            )
        self.train_acc(logits.detach(), y)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        for name, value in extra.items():
            self.log(f"train/{name}", value)
        return loss

    _STOP_HINT = (
        "; the checkpoints written so far hold finite weights. Lower the learning rate, or check the data and the "
        "loss scale (loss_reduction: sum grows with the batch size)."
    )

    def _any_rank(self, flag: bool) -> bool:
        """``flag`` or-ed over the DDP processes, so every process stops together (no hang in the next all-reduce)."""
        trainer = self._trainer
        if trainer is None or trainer.world_size == 1:
            return flag
        return bool(trainer.strategy.reduce_boolean_decision(flag, all=False))

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if not self.check_finite_grads:
            return
        name = first_non_finite((n, p.grad) for n, p in self.named_parameters())
        if self._any_rank(name is not None):
            raise NonFiniteError(
                f"the gradient of {name or 'a parameter (on another process)'} is non-finite at step "
                f"{self.global_step} (epoch {self.current_epoch}): training stopped before this update{self._STOP_HINT}"
            )

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        # the update just made runs before any validation or checkpoint: catch the step that broke the weights
        name = first_non_finite(self.named_parameters())
        if self._any_rank(name is not None):
            raise NonFiniteError(
                f"the weights ({name or 'on another process'}) became non-finite in the update of step "
                f"{self.global_step - 1} (epoch {self.current_epoch}, batch {batch_idx}): training stopped"
                f"{self._STOP_HINT}"
            )

    def _eval_step(self, batch: tuple[Tensor, Tensor], stage: str, batch_idx: int = 0) -> None:
        x, y = batch[0], batch[1]
        acc, pgd_acc = (self.val_acc, self.val_pgd_acc) if stage == "val" else (self.test_acc, self.test_pgd_acc)
        with torch.no_grad():
            logits = self.net(x)
        acc(logits, y)
        self.log(f"{stage}/acc", acc, prog_bar=True)
        attack = self.val_attack if stage == "val" else (self.test_attack or self.val_attack)
        limited = stage == "val" and self.val_attack_batches is not None and batch_idx >= self.val_attack_batches
        if attack is None or limited:
            return
        with torch.enable_grad():
            x_adv = attack(self.net, x, y)
        with torch.no_grad():
            pgd_acc(self.net(x_adv), y)
        self.log(f"{stage}/pgd_acc", pgd_acc, prog_bar=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        if batch_idx == 0 and self._vis_batch is None and self.num_vis > 0:
            self._vis_batch = (batch[0][: self.num_vis].detach().clone(), batch[1][: self.num_vis].detach().clone())
        self._eval_step(batch, "val", batch_idx)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test", batch_idx)

    def on_validation_epoch_end(self) -> None:
        if self._vis_batch is None or self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        experiment = getattr(self.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_image"):
            return
        x, y = self._vis_batch
        maps = attribution_map(self.vis_ig(self.net, x, y))
        maps = maps / maps.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
        images = x if x.shape[1] == 3 else x.expand(-1, 3, -1, -1)
        heat = maps.unsqueeze(1).expand(-1, 3, -1, -1)
        grid = torchvision.utils.make_grid(torch.cat([images, heat]).cpu(), nrow=x.shape[0], pad_value=1.0)
        experiment.add_image("val/ig_maps", grid, self.global_step)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # where this run logs: `robattr-train test --ckpt_path ...` adds its numbers to the same TensorBoard run
        log_dir = getattr(self._trainer.logger, "log_dir", None) if self._trainer is not None else None
        if log_dir:
            checkpoint["robattr"] = {"log_dir": str(log_dir)}

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
