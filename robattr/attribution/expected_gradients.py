"""Expected Gradients (Erion et al., Nature Machine Intelligence 2021): training images as references."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from robattr.attribution.objectives import Objective
from robattr.attribution.path import Estimator, PathIntegral
from robattr.attribution.reference_data import ReferenceData, collect_images


class ExpectedGradients(PathIntegral):
    r"""IG averaged over training images as references, with a random ``alpha`` per (reference, point).

    .. math:: A = \frac{1}{R} \sum_j (x - x'_j) \odot \frac{1}{K} \sum_m \nabla S(x'_j + \alpha_{jm} (x - x'_j)),
       \quad x'_j \sim \mathcal{D}_{train},\ \alpha_{jm} \sim U(0, 1)

    The references come from a pool of training images: :meth:`fit` stores the first ``pool_size`` images of a tensor
    or a data loader (pass a shuffled loader for a random pool); each call draws ``R`` of them per image uniformly with
    replacement. Unlike captum's ``GradientShap`` (a random reference *and* alpha per sample), the ``R`` references
    are each paired with ``K`` alphas (the re-calibration code's block layout). References can also be passed per call
    (``references=``, shape ``(N, R, ...)``).

    Args:
        n_references: ``R`` (default 10).
        n_points: ``K`` random alphas per reference (default 5).
        pool_size: maximum number of training images kept by :meth:`fit`.
        estimator: ``vanilla`` (default), ``valid_ip`` or ``valid_ref``.
        internal_batch_size: maximum number of points per forward pass.
        objective: explained scalar.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3))
        >>> eg = ExpectedGradients(n_references=3, n_points=2).fit(model, torch.rand(20, 4))
        >>> eg(model, torch.rand(5, 4), target=0).shape
        torch.Size([5, 4])
    """

    requires_fit: ClassVar[bool] = True

    def __init__(
        self,
        n_references: int = 10,
        n_points: int = 5,
        pool_size: int = 1000,
        estimator: Estimator = "vanilla",
        internal_batch_size: int | None = None,
        objective: Objective = "logit",
    ) -> None:
        super().__init__(n_references, n_points, estimator, internal_batch_size, objective)
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"Expected `pool_size` to be a positive integer, but got {pool_size!r}")
        self.pool_size = pool_size
        self._pool: Tensor | None = None

    @property
    def is_fitted(self) -> bool:
        """Whether a reference pool is set."""
        return self._pool is not None

    def fit(self, model: nn.Module | None, data: ReferenceData) -> ExpectedGradients:
        """Keep the first ``pool_size`` images of ``data`` (a tensor or an iterable of batches) as the pool.

        ``model`` is unused (the signature is shared with :class:`LocalPathIntegration`). Returns ``self``.
        """
        self._pool = collect_images(data, self.pool_size)
        return self

    def references(self, model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
        """``R`` pool images per input, drawn uniformly with replacement, ``(N, R, ...)``."""
        if self._pool is None:
            raise RuntimeError(
                "ExpectedGradients has no reference pool: call `fit(model, data)` first or pass `references=`"
            )
        if self._pool.shape[1:] != inputs.shape[1:]:
            raise ValueError(
                f"Expected inputs of shape (N, {', '.join(map(str, self._pool.shape[1:]))}) like the pool, but got"
                f" {tuple(inputs.shape)}"
            )
        idx = torch.randint(len(self._pool), (inputs.shape[0] * self.n_references,))
        refs = self._pool[idx].to(device=inputs.device, dtype=inputs.dtype)
        return refs.view(inputs.shape[0], self.n_references, *inputs.shape[1:])

    def alphas(self, inputs: Tensor, n_references: int) -> Tensor:
        """``alpha ~ U(0, 1)`` iid per (image, reference, point), ``(N, R, K)``."""
        return torch.rand(inputs.shape[0], n_references, self.n_points, device=inputs.device, dtype=inputs.dtype)
