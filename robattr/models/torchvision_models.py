"""torchvision classifiers with the input normalisation inside the model and weights from a local file."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torchvision
from torch import Tensor, nn

from robattr.models.activations import make_switchable

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, as a module so the threat model stays in ``[0, 1]`` pixel space."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"Expected `mean` and `std` of equal length, but got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"Expected every `std` entry to be positive, but got {list(std)}")
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std)).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def _available_archs() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models))


class TorchvisionClassifier(nn.Module):
    """A torchvision classification network behind a :class:`Normalize` layer, with switchable ReLUs.

    Inputs ``(N, 3, H, W)`` in ``[0, 1]``. Pretrained weights cannot be downloaded here, so ``weights_path`` names a
    local file: a torchvision ``state_dict`` of the bare network (e.g. ``resnet18-f37072fd.pth``), a robattr
    checkpoint's ``state_dict`` of this wrapper, or a Lightning checkpoint whose ``state_dict`` keys start with
    ``net.``.

    Args:
        arch: a torchvision model name (``resnet18``, ``resnet34``, ``resnet50``, ``vgg16``, ...).
        num_classes: number of output logits.
        weights_path: optional local weight file.
        mean: per-channel mean of the normalisation.
        std: per-channel std of the normalisation.

    Raises:
        ValueError: for an unknown ``arch`` (the message lists the valid ones) or a missing ``weights_path``.

    Example:
        >>> import torch
        >>> net = TorchvisionClassifier("resnet18", num_classes=5)
        >>> net(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 5])
    """

    def __init__(
        self,
        arch: str = "resnet18",
        num_classes: int = 1000,
        weights_path: str | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        archs = _available_archs()
        if arch not in archs:
            raise ValueError(
                f"Expected `arch` to be one of torchvision's classification models {archs}, but got {arch!r}"
            )
        if weights_path is not None and not os.path.isfile(weights_path):
            raise ValueError(f"Expected `weights_path` to be an existing file, but got {weights_path!r}")
        self.arch = arch
        self.normalize = Normalize(mean, std)
        self.net = make_switchable(torchvision.models.get_model(arch, weights=None, num_classes=num_classes))
        if weights_path is not None:
            self.load_weights(weights_path)

    def load_weights(self, path: str) -> None:
        """Load a local weight file (see the class docstring for the accepted layouts)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        for prefix in ("net.net.", "net.", "module."):
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                break
        self.net.load_state_dict(state)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x))
