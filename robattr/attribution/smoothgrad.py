"""SmoothGrad (Smilkov et al. 2017): the input gradient averaged over Gaussian-perturbed copies of the input."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robattr.attribution.base import Attribution
from robattr.attribution.ig_smoothgrad import noise_sigma
from robattr.attribution.objectives import Objective
from robattr.attribution.path import check_internal_batch_size, check_positive_int, forward_blocks


class SmoothGrad(Attribution):
    r"""``A = (1/n) sum_j grad S(x + eps_j)`` with ``eps_j ~ N(0, sigma^2 I)``, signed.

    ``sigma = noise_level * (max x - min x)`` over each image (the re-calibration code takes the range of the whole
    batch tensor, which makes a map depend on its batch; for ``[0, 1]`` images both are about ``noise_level``). The
    noise is added in the ``[0, 1]`` input space without clipping. The ``n * N`` noisy copies go through the network
    in forward passes of at most ``internal_batch_size`` points (a true upper bound, the rule of the integral
    methods: :func:`~robattr.attribution.path.forward_blocks`). Fixed noise ``noise`` ``(N, n_samples, ...)``
    (absolute values) can be passed per call. ``n_samples`` forward+backward passes per image; supports
    ``create_graph=True``.

    Args:
        n_samples: number of noisy copies ``n`` (default 10).
        noise_level: ``sigma`` relative to the image's value range (default 0.15).
        internal_batch_size: upper bound on the noisy copies of one forward pass (``None``: all at once).
        objective: explained scalar.

    Example:
        >>> model = torch.nn.Linear(3, 2, bias=False)
        >>> sg = SmoothGrad(n_samples=4)
        >>> torch.allclose(sg(model, torch.rand(2, 3), target=0), model.weight[0].detach().expand(2, 3))
        True
    """

    supports_create_graph = True

    def __init__(
        self,
        n_samples: int = 10,
        noise_level: float = 0.15,
        internal_batch_size: int | None = None,
        objective: Objective = "logit",
    ) -> None:
        super().__init__(objective)
        check_positive_int("n_samples", n_samples)
        check_internal_batch_size(internal_batch_size)
        if not noise_level >= 0:
            raise ValueError(f"Expected `noise_level` to be a non-negative float, but got {noise_level}")
        self.n_samples = n_samples
        self.noise_level = noise_level
        self.internal_batch_size = internal_batch_size

    def _attribute(
        self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool, noise: Tensor | None = None
    ) -> Tensor:
        n, s = inputs.shape[0], self.n_samples
        if noise is None:
            sigma = noise_sigma(inputs, self.noise_level).unsqueeze(1)
            noise = sigma * torch.randn((n, s) + tuple(inputs.shape[1:]), device=inputs.device, dtype=inputs.dtype)
        elif noise.shape != (n, s) + tuple(inputs.shape[1:]):
            raise ValueError(
                f"Expected `noise` of shape {(n, s) + tuple(inputs.shape[1:])}, but got {tuple(noise.shape)}"
            )
        out = []
        for images, per_pass in forward_blocks(n, s, self.internal_batch_size):
            total = torch.zeros_like(inputs[images])
            for start in range(0, s, per_pass):
                eps = noise[images, start : start + per_pass]
                points = (inputs[images].unsqueeze(1) + eps).flatten(0, 1)
                grads = self.objective_grad(
                    model, points, target[images].repeat_interleave(eps.shape[1]), create_graph=create_graph
                )
                total = total + grads.view(eps.shape).sum(1)
            out.append(total / s)
        return torch.cat(out) if len(out) > 1 else out[0]
