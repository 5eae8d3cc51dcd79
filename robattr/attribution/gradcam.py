"""Grad-CAM (Selvaraju et al., ICCV 2017): class activation map of a convolutional layer, upsampled to the input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robattr.attribution.base import Attribution
from robattr.attribution.objectives import Objective, select_objective


def default_cam_layer(model: nn.Module) -> str:
    """Name of the last ``nn.Conv2d`` met before the first ``nn.Linear`` in ``model.named_modules()`` order.

    The re-calibration code's rule: ``layer4.1.conv2`` (before BN and the residual add) for a ResNet, ``features.28``
    for VGG-16, ``features.3`` for :class:`~robattr.models.MnistCNN`.

    Raises:
        ValueError: if the model has no ``nn.Conv2d`` before its first ``nn.Linear``.

    Example:
        >>> from robattr.models import MnistCNN
        >>> default_cam_layer(MnistCNN())
        'features.3'
    """
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            break
        if isinstance(module, nn.Conv2d):
            last = name
    if last is None:
        raise ValueError(
            f"Expected `model` to have an nn.Conv2d before its first nn.Linear, but got none in {type(model).__name__}"
        )
    return last


class GradCAM(Attribution):
    r"""``cam = ReLU(sum_c w_c F_c)`` with ``w_c = mean_{h,w} dS/dF_c``, bilinearly upsampled to the input size.

    ``F`` is the output of ``layer`` (default :func:`default_cam_layer`). The map is one channel; to keep the input's
    shape it is spread evenly over the input channels (``cam / C`` in each), so the ``sum`` or ``abs_sum`` reduction of
    :func:`~robattr.attribution.attribution_map` gives the CAM back exactly. One forward and one backward pass;
    supports ``create_graph=True``. captum's ``LayerGradCam(relu_attributions=True)`` followed by
    ``LayerAttribution.interpolate(..., "bilinear")`` is the same map with ``align_corners=False``.

    Args:
        layer: dotted name of the convolutional layer (``model.get_submodule(layer)``); ``None`` picks the default.
        objective: explained scalar (the re-calibration code passes ``logit``).
        align_corners: of the bilinear upsampling (``True`` in the re-calibration code).

    Example:
        >>> from robattr.models import MnistCNN
        >>> GradCAM()(MnistCNN(), torch.rand(2, 1, 28, 28), target=3).shape
        torch.Size([2, 1, 28, 28])
    """

    supports_create_graph = True

    def __init__(self, layer: str | None = None, objective: Objective = "logit", align_corners: bool = True) -> None:
        super().__init__(objective)
        self.layer = layer
        self.align_corners = align_corners

    def _attribute(self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool) -> Tensor:
        if inputs.dim() != 4:
            raise ValueError(f"Expected `inputs` of shape (N, C, H, W) for GradCAM, but got {tuple(inputs.shape)}")
        module = model.get_submodule(self.layer if self.layer is not None else default_cam_layer(model))
        captured: list[Tensor] = []
        handle = module.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            logits = model(inputs if inputs.requires_grad else inputs.detach().requires_grad_(True))
        finally:
            handle.remove()
        if len(captured) != 1 or captured[0].dim() != 4:
            raise ValueError(
                f"Expected the CAM layer to be called once with a (N, C, h, w) output, but got {len(captured)} call(s)"
            )
        act = captured[0]
        score = select_objective(logits, target, self.objective)
        (grad,) = torch.autograd.grad(score.sum(), act, create_graph=create_graph)
        cam = F.relu((grad.mean((2, 3), keepdim=True) * act).sum(1, keepdim=True))
        cam = F.interpolate(cam, size=inputs.shape[-2:], mode="bilinear", align_corners=self.align_corners)
        return (cam / inputs.shape[1]).expand_as(inputs).contiguous()
