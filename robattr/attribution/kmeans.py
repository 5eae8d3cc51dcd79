"""k-means in torch (k-means++ seeding, Lloyd iterations, best of several starts)."""

from __future__ import annotations

import torch
from torch import Tensor

from robattr.attribution.path import check_positive_int


def _sq_dists(x: Tensor, centers: Tensor, chunk: int = 65536) -> Tensor:
    """Squared Euclidean distances ``(M, k)``, in row chunks to bound memory."""
    return torch.cat([torch.cdist(x[i : i + chunk], centers).pow_(2) for i in range(0, len(x), chunk)])


def _plus_plus(x: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii 2007)."""
    idx = torch.randint(len(x), (1,), generator=generator, device="cpu").item()
    centers = [x[idx]]
    d = _sq_dists(x, x[idx : idx + 1]).squeeze(1)
    for _ in range(1, k):
        total = d.sum()
        if total <= 0:
            nxt = torch.randint(len(x), (1,), generator=generator, device="cpu").item()
        else:
            nxt = torch.multinomial((d / total).cpu(), 1, generator=generator).item()
        centers.append(x[nxt])
        d = torch.minimum(d, _sq_dists(x, x[nxt : nxt + 1]).squeeze(1))
    return torch.stack(centers)


def kmeans(
    x: Tensor,
    n_clusters: int,
    n_init: int = 3,
    max_iter: int = 300,
    tol: float = 1e-6,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Cluster the rows of ``x`` ``(M, D)`` into ``n_clusters``; returns ``(centers (k, D), labels (M,))``.

    k-means++ seeding, Lloyd iterations until the centers move less than ``tol`` (relative squared shift) or
    ``max_iter``, best inertia over ``n_init`` starts (scikit-learn's ``KMeans`` defaults, which the LPI code used
    with ``n_init=3, max_iter=600``). An emptied cluster is re-seeded at the point farthest from its center. Runs on
    ``x``'s device; distances are computed in chunks.

    Raises:
        ValueError: if ``n_clusters`` is not in ``[1, M]``, or ``n_init`` / ``max_iter`` is not positive.

    Example:
        >>> x = torch.tensor([[0.0], [0.1], [10.0], [10.1]])
        >>> centers, labels = kmeans(x, 2, generator=torch.Generator().manual_seed(0))
        >>> sorted(centers.flatten().tolist())
        [0.05000000074505806, 10.050000190734863]
        >>> bool(labels[0] == labels[1]) and bool(labels[2] == labels[3])
        True
    """
    if x.dim() != 2:
        raise ValueError(f"Expected `x` of shape (M, D), but got {tuple(x.shape)}")
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int) or not 1 <= n_clusters <= len(x):
        raise ValueError(f"Expected `n_clusters` to be an integer in [1, {len(x)}], but got {n_clusters!r}")
    check_positive_int("n_init", n_init)
    check_positive_int("max_iter", max_iter)
    x = x.float()
    scale = x.var(0).sum().clamp_min(1e-12)
    best: tuple[float, Tensor, Tensor] | None = None
    for _ in range(n_init):
        centers = _plus_plus(x, n_clusters, generator)
        for _ in range(max_iter):
            d = _sq_dists(x, centers)
            labels = d.argmin(1)
            counts = torch.bincount(labels, minlength=n_clusters)
            new = torch.zeros_like(centers).index_add_(0, labels, x) / counts.clamp_min(1).unsqueeze(1).to(x.dtype)
            for empty in torch.nonzero(counts == 0).flatten().tolist():
                far = d.gather(1, labels.view(-1, 1)).squeeze(1).argmax()
                new[empty] = x[far]
            shift = (new - centers).pow(2).sum() / scale
            centers = new
            if shift <= tol:
                break
        d = _sq_dists(x, centers)
        inertia, labels = d.min(1)
        if best is None or inertia.sum().item() < best[0]:
            best = (inertia.sum().item(), centers, labels)
    return best[1], best[2]  # type: ignore[index]
