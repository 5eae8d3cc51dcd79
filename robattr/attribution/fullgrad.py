"""FullGrad (Srinivas & Fleuret, NeurIPS 2019): input-gradient and bias-gradient maps, summed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robattr.attribution.base import Attribution
from robattr.attribution.objectives import Objective, select_objective
from robattr.models import Normalize


def _effective_bias(module: nn.Module) -> Tensor | None:
    """The bias a module adds to its output (per output channel), or ``None``."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        return module.bias
    if isinstance(module, nn.BatchNorm2d) and module.running_mean is not None:
        scale = module.weight if module.weight is not None else torch.ones_like(module.running_mean)
        shift = module.bias if module.bias is not None else torch.zeros_like(module.running_mean)
        return shift - module.running_mean * scale / torch.sqrt(module.running_var + module.eps)
    if isinstance(module, Normalize):
        return (-module.mean / module.std).flatten()
    return None


def full_gradient_decompose(
    model: nn.Module, inputs: Tensor, target: Tensor, objective: Objective = "logit"
) -> tuple[Tensor, list[Tensor]]:
    """``(dS/dx, [dS/do_l * b_l])``: the input gradient and one bias-gradient tensor per biased layer call.

    Biased layers are ``nn.Conv2d`` / ``nn.Linear`` with a bias, ``nn.BatchNorm2d`` with running statistics (effective
    bias ``b - mu * gamma / sqrt(var + eps)``, so the model should be in eval mode) and robattr's ``Normalize``
    (bias ``-mean / std``). For a piecewise-linear network (ReLU, max-pool) ``S(x) = sum(dS/dx * x) + sum_l
    sum(dS/do_l * b_l)`` exactly (the full-gradient completeness).

    Example:
        >>> model = nn.Linear(3, 2)
        >>> x = torch.rand(1, 3)
        >>> g, biases = full_gradient_decompose(model, x, torch.tensor([0]))
        >>> bool(torch.allclose((g * x).sum() + biases[0].sum(), model(x)[0, 0]))
        True
    """
    records: list[tuple[Tensor, Tensor]] = []
    handles = []
    for module in model.modules():
        bias = _effective_bias(module)
        if bias is not None:
            handles.append(module.register_forward_hook(lambda _m, _i, out, b=bias: records.append((out, b))))
    x = inputs.detach().requires_grad_(True)
    try:
        score = select_objective(model(x), target, objective)
    finally:
        for h in handles:
            h.remove()
    grads = torch.autograd.grad(score.sum(), [x] + [out for out, _ in records], allow_unused=True)
    terms = []
    for (out, bias), g in zip(records, grads[1:]):
        g = torch.zeros_like(out) if g is None else g
        terms.append(g * bias.detach().view(1, -1, *(1,) * (out.dim() - 2)))
    return grads[0], terms


def _min_max(t: Tensor, eps: float = 1e-6) -> Tensor:
    """``|t|`` scaled per image to ``[0, 1]`` (FullGrad's post-processing)."""
    t = t.abs()
    flat = t.flatten(1)
    shape = (-1,) + (1,) * (t.dim() - 1)
    t = t - flat.amin(1).view(shape)
    return t / (t.flatten(1).amax(1).view(shape) + eps)


class FullGrad(Attribution):
    r"""``M = sum_c post(|dS/dx * x|) + sum_l sum_c up(post(|dS/do_l * b_l|))`` over the convolution-shaped layers.

    ``post`` takes ``|.|`` and min-max normalises per image; ``up`` is bilinear upsampling (``align_corners=True``) to
    the input size. Only 4-D (convolutional) bias-gradients enter, as in the authors' extractor that the
    re-calibration code copies. Differences: the gradient is taken w.r.t. the ``[0, 1]`` input (robattr models
    normalise inside), and the model's ``Normalize`` layer counts as a biased layer. The map is spread evenly over
    the input channels (``M / C`` each), so a channel sum gives it back. One forward and one backward pass.

    Args:
        objective: explained scalar.

    Example:
        >>> from robattr.models import MnistCNN
        >>> FullGrad()(MnistCNN().eval(), torch.rand(2, 1, 28, 28), target=3).shape
        torch.Size([2, 1, 28, 28])
    """

    def _attribute(self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool) -> Tensor:
        if inputs.dim() != 4:
            raise ValueError(f"Expected `inputs` of shape (N, C, H, W) for FullGrad, but got {tuple(inputs.shape)}")
        grad, biases = full_gradient_decompose(model, inputs, target, self.objective)
        cam = _min_max(grad * inputs.detach()).sum(1, keepdim=True)
        for term in biases:
            if term.dim() == 4:  # upsampling is linear per channel: sum the channels first (C times less work)
                summed = _min_max(term).sum(1, keepdim=True)
                cam = cam + F.interpolate(summed, size=inputs.shape[-2:], mode="bilinear", align_corners=True)
        return (cam / inputs.shape[1]).expand_as(inputs).contiguous()
