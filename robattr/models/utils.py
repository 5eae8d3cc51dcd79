"""Small helpers about a model that every package uses: its device and dtype, inputs moved to it, eval mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (frozen BatchNorm: images of a batch are independent) and restore it after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model with neither)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (float32 for none): inputs are cast to it."""
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def to_model(model: nn.Module, x: Tensor) -> Tensor:
    """``x`` on the model's device, in its floating dtype."""
    return x.to(device=model_device(model), dtype=model_dtype(model), non_blocking=True)
