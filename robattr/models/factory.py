"""A small explicit model factory: names to constructors, no registry decorators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from robattr.models.flower_resnet import FlowerResNet
from robattr.models.mnist_cnn import MnistCNN
from robattr.models.torchvision_models import TorchvisionClassifier

MODELS: dict[str, Callable[..., nn.Module]] = {
    "mnist_cnn": MnistCNN,
    "flower_resnet": FlowerResNet,
    "resnet18": lambda **kw: TorchvisionClassifier("resnet18", **kw),
    "resnet34": lambda **kw: TorchvisionClassifier("resnet34", **kw),
    "resnet50": lambda **kw: TorchvisionClassifier("resnet50", **kw),
    "vgg16": lambda **kw: TorchvisionClassifier("vgg16", **kw),
}


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name.

    Args:
        name: one of ``MODELS`` (``mnist_cnn``, ``flower_resnet``, ``resnet18``, ``resnet34``, ``resnet50``, ``vgg16``).
        **kwargs: passed to the constructor (``num_classes``, ``weights_path`` ...).

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.

    Example:
        >>> create_model("mnist_cnn").__class__.__name__
        'MnistCNN'
    """
    if name not in MODELS:
        raise ValueError(f"Expected `name` to be one of {sorted(MODELS)}, but got {name!r}")
    return MODELS[name](**kwargs)
