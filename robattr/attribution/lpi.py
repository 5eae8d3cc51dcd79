"""Local Path Integration (Yang et al., AAAI 2023): density-weighted prototypes of the input's local distribution."""

from __future__ import annotations

import os
from typing import ClassVar

import torch
from torch import Tensor, nn

from robattr.attribution.kmeans import kmeans
from robattr.attribution.objectives import Objective
from robattr.attribution.path import Estimator, PathIntegral, check_positive_int
from robattr.attribution.reference_data import ReferenceData, image_batches
from robattr.models.utils import model_device


class LocalPathIntegration(PathIntegral):
    r"""LPI: IG over the ``R`` prototypes of the input's cluster of model outputs, weighted by their densities.

    .. math:: A(x) = \sum_{s=1}^{R} \rho_{c(x),s}\,(x - x'_s) \odot \frac{1}{K}
       \sum_m \nabla S(x'_s + \alpha_{sm}(x - x'_s)), \quad \alpha_{sm} \sim U(0.01, 0.99)

    **Offline estimation** (:meth:`fit`, the LPI code's ``distribution_estimation.py``): the model's logits on the
    training data are clustered by k-means into ``C`` clusters; each cluster's logits are clustered again into ``R``
    sub-clusters; the prototype of a sub-cluster is the training image whose logit vector is nearest to the
    sub-center, and its density is the sub-cluster's share of the cluster. :meth:`save` / :meth:`load` (or
    ``prototypes_path``) keep the result in a file. **Online**, an input is assigned to the cluster whose center is
    nearest to its logits (``C = 1``: one global cluster).

    Deviations from the released code: the prototype is the nearest image itself (the code saved the image 200
    positions later, an index offset), each cluster keeps its own densities (the code stacked the last cluster's ``C``
    times), the reference ``s`` is paired with its own ``K`` alphas (not the tiled pairing), and the constant ``1/R``
    is dropped. k-means is robattr's torch implementation (:func:`~robattr.attribution.kmeans.kmeans`), not
    scikit-learn's. ``R * K`` forward+backward passes per image (100 at the defaults).

    Args:
        n_prototypes: ``R``, prototypes per cluster (default 20).
        n_points: ``K`` random alphas per prototype (default 5).
        n_clusters: ``C``, level-1 clusters (default 1, as shipped with the LPI code).
        alpha_low: lower end of the uniform alphas.
        alpha_high: upper end of the uniform alphas.
        max_samples: use at most this many training images in :meth:`fit` (``None``: all).
        prototypes_path: file of a saved estimation; loaded here if it exists, written by :meth:`fit` otherwise.
        n_init: k-means restarts.
        max_iter: k-means iterations.
        estimator: ``vanilla`` (default), ``valid_ip`` or ``valid_ref``.
        internal_batch_size: maximum number of points per forward pass.
        objective: explained scalar (the LPI code uses ``logit``).

    Raises:
        ValueError: for bad arguments, or a ``prototypes_path`` whose content does not match ``n_clusters`` /
            ``n_prototypes``.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3))
        >>> lpi = LocalPathIntegration(n_prototypes=2, n_points=2).fit(model, torch.rand(30, 4))
        >>> lpi(model, torch.rand(5, 4), target=0).shape
        torch.Size([5, 4])
    """

    requires_fit: ClassVar[bool] = True

    def __init__(
        self,
        n_prototypes: int = 20,
        n_points: int = 5,
        n_clusters: int = 1,
        alpha_low: float = 0.01,
        alpha_high: float = 0.99,
        max_samples: int | None = None,
        prototypes_path: str | None = None,
        n_init: int = 3,
        max_iter: int = 300,
        estimator: Estimator = "vanilla",
        internal_batch_size: int | None = None,
        objective: Objective = "logit",
    ) -> None:
        super().__init__(n_prototypes, n_points, estimator, internal_batch_size, objective)
        check_positive_int("n_clusters", n_clusters)
        check_positive_int("n_init", n_init)
        check_positive_int("max_iter", max_iter)
        if max_samples is not None:
            check_positive_int("max_samples", max_samples)
        if not 0.0 <= alpha_low < alpha_high <= 1.0:
            raise ValueError(
                f"Expected 0 <= `alpha_low` < `alpha_high` <= 1, but got alpha_low={alpha_low} and"
                f" alpha_high={alpha_high}"
            )
        self.n_prototypes = n_prototypes
        self.n_clusters = n_clusters
        self.alpha_low = alpha_low
        self.alpha_high = alpha_high
        self.max_samples = max_samples
        self.prototypes_path = prototypes_path
        self.n_init = n_init
        self.max_iter = max_iter
        self._state: dict[str, Tensor] | None = None
        if prototypes_path is not None and os.path.isfile(prototypes_path):
            self.load(prototypes_path)

    @property
    def is_fitted(self) -> bool:
        """Whether prototypes are set (by :meth:`fit` or :meth:`load`)."""
        return self._state is not None

    @property
    def prototypes(self) -> Tensor:
        """Prototype images ``(C, R, ...)``."""
        return self._fitted()["prototypes"]

    @property
    def density(self) -> Tensor:
        """Prototype densities ``(C, R)``, each row summing to 1."""
        return self._fitted()["density"]

    def _fitted(self) -> dict[str, Tensor]:
        if self._state is None:
            raise RuntimeError("LocalPathIntegration has no prototypes: call `fit(model, data)` or `load(path)` first")
        return self._state

    # --------------------------------------------------------------------------------------- offline estimation
    @torch.no_grad()
    def _logits(self, model: nn.Module, data: ReferenceData) -> Tensor:
        device = model_device(model)
        return torch.cat([model(b.to(device)).float().cpu() for b in image_batches(data, self.max_samples)])

    def fit(self, model: nn.Module, data: ReferenceData) -> LocalPathIntegration:
        """Estimate clusters, prototypes and densities from the training ``data`` (tensor or iterable of batches).

        ``data`` is read twice (logits, then the prototype images), so a loader must yield the same images in the
        same order both times (no shuffling); a changed order raises ``RuntimeError``. Saves to ``prototypes_path``
        when set. Returns ``self``.
        """
        logits = self._logits(model, data)
        gen = torch.Generator().manual_seed(0)
        centers, labels = kmeans(logits, self.n_clusters, self.n_init, self.max_iter, generator=gen)
        indices, density = [], []
        for c in range(self.n_clusters):
            members = torch.nonzero(labels == c).flatten()
            if len(members) < self.n_prototypes:
                raise ValueError(
                    f"Expected every cluster to hold at least `n_prototypes`={self.n_prototypes} training samples, "
                    f"but cluster {c} holds {len(members)}"
                )
            sub_centers, sub_labels = kmeans(
                logits[members], self.n_prototypes, self.n_init, self.max_iter, generator=gen
            )
            nearest = torch.cdist(sub_centers, logits[members]).argmin(1)
            indices.append(members[nearest])
            density.append(torch.bincount(sub_labels, minlength=self.n_prototypes).float() / len(members))
        index = torch.stack(indices)
        images = self._gather(data, index.flatten())
        with torch.no_grad():
            check = model(images.to(model_device(model))).float().cpu()
        if not torch.allclose(check, logits[index.flatten()], rtol=1e-3, atol=1e-4):
            raise RuntimeError(
                "Expected `data` to yield the same images in the same order on each pass, but it changed (a shuffled"
                " loader?)"
            )
        self._state = {
            "centers": centers,
            "prototypes": images.view(self.n_clusters, self.n_prototypes, *images.shape[1:]),
            "density": torch.stack(density),
            "indices": index,
        }
        if self.prototypes_path is not None:
            self.save(self.prototypes_path)
        return self

    def _gather(self, data: ReferenceData, wanted: Tensor) -> Tensor:
        found: dict[int, Tensor] = {}
        targets = set(wanted.tolist())
        offset = 0
        for batch in image_batches(data, self.max_samples):
            for i in range(batch.shape[0]):
                if offset + i in targets:
                    found[offset + i] = batch[i].detach().cpu()
            offset += batch.shape[0]
        return torch.stack([found[i] for i in wanted.tolist()])

    def save(self, path: str) -> None:
        """Write centers ``(C, K)``, prototypes ``(C, R, ...)``, densities ``(C, R)``, training indices to ``path``."""
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        torch.save(self._fitted(), path)

    def load(self, path: str) -> LocalPathIntegration:
        """Read a file written by :meth:`save`; returns ``self``.

        Raises:
            ValueError: if the file's clusters / prototypes do not match ``n_clusters`` / ``n_prototypes``.
        """
        state = torch.load(path, map_location="cpu", weights_only=True)
        shape = tuple(state["density"].shape)
        if shape != (self.n_clusters, self.n_prototypes):
            raise ValueError(
                f"Expected prototypes for `n_clusters`={self.n_clusters} and `n_prototypes`={self.n_prototypes} in "
                f"{path!r}, but got densities of shape {shape}"
            )
        self._state = state
        return self

    # ------------------------------------------------------------------------------------------ online sampling
    def clusters(self, model: nn.Module, inputs: Tensor) -> Tensor:
        """Cluster of each input ``(N,)``: the center nearest to its logits (all zeros for ``C = 1``)."""
        centers = self._fitted()["centers"]
        if len(centers) == 1:
            return torch.zeros(inputs.shape[0], dtype=torch.long, device=inputs.device)
        with torch.no_grad():
            logits = model(inputs.detach()).float()
        return torch.cdist(logits, centers.to(logits.device)).argmin(1)

    def references(self, model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
        """The ``R`` prototypes of each input's cluster, ``(N, R, ...)``."""
        protos = self.prototypes
        if protos.shape[2:] != inputs.shape[1:]:
            raise ValueError(
                f"Expected inputs of shape (N, {', '.join(map(str, protos.shape[2:]))}) like the prototypes, but got"
                f" {tuple(inputs.shape)}"
            )
        return protos[self.clusters(model, inputs).cpu()].to(device=inputs.device, dtype=inputs.dtype)

    def reference_weights(self, model: nn.Module, inputs: Tensor, target: Tensor, references: Tensor) -> Tensor:
        """The prototypes' densities in each input's cluster, ``(N, R)``.

        Uniform before :meth:`fit` or for ``R != n_prototypes``.
        """
        if not self.is_fitted or references.shape[1] != self.n_prototypes:
            return super().reference_weights(model, inputs, target, references)
        return self.density[self.clusters(model, inputs).cpu()].to(device=inputs.device, dtype=inputs.dtype)

    def alphas(self, inputs: Tensor, n_references: int) -> Tensor:
        """``alpha ~ U(alpha_low, alpha_high)`` iid, ``(N, R, K)``."""
        a = torch.rand(inputs.shape[0], n_references, self.n_points, device=inputs.device, dtype=inputs.dtype)
        return self.alpha_low + (self.alpha_high - self.alpha_low) * a
