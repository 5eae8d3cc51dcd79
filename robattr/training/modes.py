"""Training modes: natural, PGD (Madry) and RAR's IG-NORM / IG-SUM-NORM."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from robattr.attacks import PGD
from robattr.attribution import IntegratedGradients
from robattr.checks import check_int, check_real
from robattr.training.classifier import ClassifierModule, reduce_batch


class NaturalTraining(ClassifierModule):
    """Natural training: minimise ``CE(f(x), y)``. Takes every argument of :class:`ClassifierModule`.

    Example:
        One optimisation step by hand on random digits (``robattr-train fit`` or ``Trainer.fit`` do the loop):

        >>> import torch
        >>> from robattr.models import MnistCNN
        >>> from robattr.attacks import PGD
        >>> _ = torch.manual_seed(0)
        >>> module = NaturalTraining(MnistCNN(), val_attack=PGD(eps=0.3, step_size=0.1, steps=2))
        >>> optimizer = module.configure_optimizers()
        >>> x, y = torch.rand(8, 1, 28, 28), torch.arange(8)
        >>> loss, logits, extra = module.compute_loss(x, y)
        >>> loss.backward()
        >>> optimizer.step()
        >>> logits.shape, bool(loss.isfinite()), extra
        (torch.Size([8, 10]), True, {})
    """


class PGDTraining(ClassifierModule):
    """Madry et al. (ICLR 2018) adversarial training: minimise ``CE(f(x'), y)``, ``x' = PGD(x)``.

    The attack runs in the module's current mode (train mode: BatchNorm layers, where present, see the
    adversarial batch, as in Madry's and fast_adversarial's code). ``x'`` is a constant for the parameter update.

    Args:
        attack: the inner maximisation (RAR's MNIST config: eps 0.3, 40 steps of 0.01, random start).
        **kwargs: see :class:`ClassifierModule`.

    Example:
        One optimisation step on random digits: the loss is the cross-entropy at the attacked images.

        >>> import torch
        >>> from robattr.models import MnistCNN
        >>> _ = torch.manual_seed(0)
        >>> module = PGDTraining(MnistCNN(), attack=PGD(eps=0.3, step_size=0.1, steps=3))
        >>> optimizer = module.configure_optimizers()
        >>> x, y = torch.rand(8, 1, 28, 28), torch.arange(8)
        >>> loss, logits_adv, _ = module.compute_loss(x, y)
        >>> loss.backward()
        >>> optimizer.step()
        >>> clean_loss = torch.nn.functional.cross_entropy(module.net(x), y)
        >>> logits_adv.shape, bool(loss > clean_loss)  # the attack raised the loss
        (torch.Size([8, 10]), True)
    """

    def __init__(self, net: nn.Module, attack: PGD, **kwargs) -> None:
        super().__init__(net, **kwargs)
        self.attack = attack

    def compute_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        x_adv = self.training_attack(self.attack)(self.net, x, y)
        logits_adv = self.net(x_adv)
        loss = reduce_batch(F.cross_entropy(logits_adv, y, reduction="none"), self.loss_reduction)
        return loss, logits_adv, {}


class _IGRegularised(ClassifierModule):
    """Shared machinery of RAR's objectives (Chen et al., NeurIPS 2019).

    The attribution is IG of the *loss* along the straight path from the clean ``x`` (the baseline) to a perturbed
    ``x'``: ``IG(x, x') = (x' - x) * mean_j grad l(x + j/m (x' - x))``, right Riemann rule. The inner maximisation runs
    PGD from a random start on a coarse IG with ``m / approx_factor`` points (RAR's ``IG_approx``) and returns the
    last iterate; the training loss uses the full ``m`` points with ``create_graph=True`` (double backprop), with
    ``x'`` held constant.
    """

    def __init__(self, net: nn.Module, attack: PGD, ig_steps: int = 50, approx_factor: int = 5, **kwargs) -> None:
        super().__init__(net, **kwargs)
        check_int("ig_steps", ig_steps, minimum=1)
        check_int("approx_factor", approx_factor, minimum=1)
        if ig_steps % approx_factor != 0:
            raise ValueError(
                f"Expected `approx_factor` to be a positive divisor of `ig_steps`={ig_steps}, but got {approx_factor}"
            )
        self.attack = attack
        self.ig = IntegratedGradients(n_steps=ig_steps, objective="loss")
        self.ig_approx = IntegratedGradients(n_steps=ig_steps // approx_factor, objective="loss")

    def ig_norm(self, ig: IntegratedGradients, x: Tensor, x_adv: Tensor, y: Tensor, create_graph: bool) -> Tensor:
        """Per-sample ``||IG^l_y(x, x')||_1`` of shape ``(N,)``."""
        return ig(self.net, x_adv, y, baselines=x, create_graph=create_graph).flatten(1).abs().sum(1)


class IGNormTraining(_IGRegularised):
    """RAR's IG-NORM: minimise ``l(x, y) + lambda * max_{x' in N(x, eps)} ||IG^l_y(x, x')||_1``.

    Args:
        attack: PGD of the inner maximisation (RAR MNIST: eps 0.3, 40 steps of 0.01; ``keep_best=False``).
        lam: the weight ``lambda`` (RAR: 1.0 on MNIST, 0.1 on Flower).
        ig_steps: IG points ``m`` of the training loss (RAR: 50).
        approx_factor: the inner maximisation uses ``m / approx_factor`` points (RAR: 5 on MNIST, 10 on Flower).
        **kwargs: see :class:`ClassifierModule`; RAR's code sums over the batch (``loss_reduction: sum``).

    Example:
        One optimisation step on random digits, with a 2-point training IG and a 1-point IG in the inner attack:

        >>> import torch
        >>> from robattr.models import MnistCNN
        >>> _ = torch.manual_seed(0)
        >>> attack = PGD(eps=0.3, step_size=0.15, steps=2, keep_best=False)
        >>> module = IGNormTraining(MnistCNN(), attack=attack, lam=1.0, ig_steps=2, approx_factor=2)
        >>> optimizer = module.configure_optimizers()
        >>> x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> loss, logits, extra = module.compute_loss(x, y)
        >>> loss.backward()  # through the input gradients of the IG term (double backprop)
        >>> optimizer.step()
        >>> sorted(extra), bool(torch.isclose(loss, extra["ce"] + 1.0 * extra["ig_norm"]))
        (['ce', 'ig_norm'], True)
    """

    def __init__(
        self, net: nn.Module, attack: PGD, lam: float = 1.0, ig_steps: int = 50, approx_factor: int = 5, **kwargs
    ) -> None:
        super().__init__(net, attack, ig_steps, approx_factor, **kwargs)
        check_real("lam", lam)
        if lam < 0:
            raise ValueError(f"Expected `lam` to be a non-negative float, but got {lam}")
        self.lam = lam

    def compute_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        x_adv = self.training_attack(self.attack)(
            self.net, x, y, loss_fn=lambda m, xa, yy: self.ig_norm(self.ig_approx, x, xa, yy, True)
        )
        logits = self.net(x)
        ce = reduce_batch(F.cross_entropy(logits, y, reduction="none"), self.loss_reduction)
        reg = reduce_batch(self.ig_norm(self.ig, x, x_adv, y, True), self.loss_reduction)
        return ce + self.lam * reg, logits, {"ce": ce.detach(), "ig_norm": reg.detach()}


class IGSumNormTraining(_IGRegularised):
    """RAR's IG-SUM-NORM: minimise ``max_{x' in N(x, eps)} [ l(x', y) + beta * ||IG^l_y(x, x')||_1 ]``.

    By completeness this is ``l(x) + sum(IG) + beta ||IG||_1``; ``beta = 0`` is Madry's objective.

    Args:
        attack: PGD of the inner maximisation (``keep_best=False`` as in RAR).
        beta: the weight ``beta`` (RAR: 0.1).
        ig_steps: IG points ``m`` of the training loss (RAR: 50).
        approx_factor: the inner maximisation uses ``m / approx_factor`` points.
        **kwargs: see :class:`ClassifierModule`; RAR's code sums over the batch (``loss_reduction: sum``).

    Example:
        One optimisation step on random digits, with a 2-point training IG and a 1-point IG in the inner attack:

        >>> import torch
        >>> from robattr.models import MnistCNN
        >>> _ = torch.manual_seed(0)
        >>> attack = PGD(eps=0.3, step_size=0.15, steps=2, keep_best=False)
        >>> module = IGSumNormTraining(MnistCNN(), attack=attack, beta=0.1, ig_steps=2, approx_factor=2)
        >>> optimizer = module.configure_optimizers()
        >>> x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
        >>> loss, logits_adv, _ = module.compute_loss(x, y)
        >>> loss.backward()  # through the input gradients of the IG term (double backprop)
        >>> optimizer.step()
        >>> logits_adv.shape, bool(loss.isfinite())
        (torch.Size([4, 10]), True)
    """

    def __init__(
        self, net: nn.Module, attack: PGD, beta: float = 0.1, ig_steps: int = 50, approx_factor: int = 5, **kwargs
    ) -> None:
        super().__init__(net, attack, ig_steps, approx_factor, **kwargs)
        check_real("beta", beta)
        if beta < 0:
            raise ValueError(f"Expected `beta` to be a non-negative float, but got {beta}")
        self.beta = beta

    def _objective(
        self, ig: IntegratedGradients, x: Tensor, x_adv: Tensor, y: Tensor, create_graph: bool
    ) -> tuple[Tensor, Tensor]:
        logits_adv = self.net(x_adv)
        ce = F.cross_entropy(logits_adv, y, reduction="none")
        return ce + self.beta * self.ig_norm(ig, x, x_adv, y, create_graph), logits_adv

    def compute_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        x_adv = self.training_attack(self.attack)(
            self.net, x, y, loss_fn=lambda m, xa, yy: self._objective(self.ig_approx, x, xa, yy, True)[0]
        )
        per_sample, logits_adv = self._objective(self.ig, x, x_adv, y, True)
        loss = reduce_batch(per_sample, self.loss_reduction)
        return loss, logits_adv, {}
