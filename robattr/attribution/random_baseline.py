"""The random attribution: the floor every faithfulness metric should beat."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robattr.attribution.base import Attribution


class RandomAttribution(Attribution):
    """``A ~ U[0, 1]`` iid with the input's shape, independent of the model (the re-calibration code's ``Random``).

    DiffID of a random map should be about 0. No forward or backward pass.

    Example:
        >>> RandomAttribution()(torch.nn.Identity(), torch.zeros(2, 3), target=0).shape
        torch.Size([2, 3])
    """

    def __init__(self) -> None:
        super().__init__("logit")

    def _attribute(self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool) -> Tensor:
        return torch.rand_like(inputs)
