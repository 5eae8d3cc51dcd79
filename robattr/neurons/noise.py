"""Random-noise corruption of a probing set (Srivastava et al., ICCV 2023): Gaussian, uniform or Bernoulli noise."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from robattr.data.broden import BrodenDataset
from robattr.neurons.phases import track
from robattr.neurons.storage import Poisoning, Storage, check_storage, prepare_out_dir, store_images

NoiseKind = Literal["gaussian", "uniform", "bernoulli"]
NOISE_KINDS: tuple[str, ...] = ("gaussian", "uniform", "bernoulli")


def image_generator(seed: int, index: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, index)``: each image's draws do not depend on batching or order."""
    state = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class NoiseCorruption:
    r"""Add noise to a fraction of the probing images, clip to ``[0, 1]``, store them.

    Per pixel and channel, in ``[0, 1]`` pixel space: ``gaussian`` :math:`\delta \sim \mathcal{N}(0, \sigma^2)`
    (``torchattacks.GN`` in the reference), ``uniform`` :math:`\delta \sim \mathcal{U}(-\sigma, \sigma)` (std
    :math:`\sigma/\sqrt3`), ``bernoulli`` :math:`\delta = \pm\sigma` with probability 1/2 each. Each image is poisoned
    independently with probability ``fraction`` (the reference's NetDissect path). The draws of image ``i`` come from a
    generator seeded by ``(seed, i)``, so they are the same for any batch size.

    Args:
        kind: ``gaussian``, ``uniform`` or ``bernoulli``.
        sigma: noise scale (the paper's headline: 0.02).
        fraction: probability of poisoning each image (1.0 in the reference's defaults).
        storage: ``lossless`` (float32 ``.pt``) or ``jpeg`` (8-bit truncation + JPEG, as the reference), see
            :mod:`robattr.neurons.storage`.
        seed: seed of the draws.
        batch_size: images read at a time.

    Raises:
        ValueError: for an unknown kind or storage, ``sigma < 0`` or ``fraction`` outside ``[0, 1]``.

    Example:
        >>> noise = NoiseCorruption("bernoulli", sigma=0.1)
        >>> x = torch.full((1, 3, 2, 2), 0.5)
        >>> sorted(set(noise.perturb(x, [0]).flatten().tolist()))
        [0.4000000059604645, 0.6000000238418579]
    """

    def __init__(
        self,
        kind: NoiseKind = "gaussian",
        sigma: float = 0.02,
        fraction: float = 1.0,
        storage: Storage = "lossless",
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        if kind not in NOISE_KINDS:
            raise ValueError(f"Expected `kind` to be one of {list(NOISE_KINDS)}, but got {kind!r}")
        if not sigma >= 0:
            raise ValueError(f"Expected `sigma` to be a non-negative float, but got {sigma}")
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"Expected `fraction` to be a float in [0, 1], but got {fraction}")
        check_storage(storage)
        if batch_size < 1:
            raise ValueError(f"Expected `batch_size` to be a positive integer, but got {batch_size}")
        self.kind = kind
        self.sigma = sigma
        self.fraction = fraction
        self.storage = storage
        self.seed = seed
        self.batch_size = batch_size

    def _noise(self, shape: torch.Size, generator: torch.Generator) -> Tensor:
        if self.kind == "gaussian":
            return torch.randn(shape, generator=generator) * self.sigma
        if self.kind == "uniform":
            return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * self.sigma
        return (torch.randint(0, 2, shape, generator=generator).float() * 2.0 - 1.0) * self.sigma

    def selected(self, index: int) -> bool:
        """Whether image ``index`` is poisoned (its own Bernoulli(``fraction``) draw)."""
        return bool(torch.rand((), generator=image_generator(self.seed, index)) < self.fraction)

    def perturb(self, images: Tensor, indices: list[int]) -> Tensor:
        """Noisy, clipped copies of ``images`` ``(B, 3, H, W)`` (CPU) whose dataset indices are ``indices``."""
        out = []
        for image, index in zip(images, indices):
            gen = image_generator(self.seed, index)
            torch.rand((), generator=gen)  # the selection draw (see `selected`)
            out.append((image + self._noise(image.shape, gen).to(image.dtype)).clamp(0.0, 1.0))
        return torch.stack(out)

    def __call__(self, dataset: BrodenDataset, out_dir: str, progress: bool = False) -> Poisoning:
        """Write the poisoned images of ``dataset`` under ``out_dir``; ``Poisoning.dataset(dataset)`` reads them."""
        prepare_out_dir(out_dir)
        poisoned: list[int] = []
        for batch in track(dataset.loader(self.batch_size, images_only=True), f"{self.kind} noise", progress):
            chosen = [i for i in batch.indices.tolist() if self.selected(i)]
            if not chosen:
                continue
            rows = [j for j, i in enumerate(batch.indices.tolist()) if i in set(chosen)]
            noisy = self.perturb(batch.images[rows], chosen)
            store_images(noisy, [dataset.rows[i].image for i in chosen], out_dir, self.storage)
            poisoned.extend(chosen)
        return Poisoning(out_dir, poisoned, len(dataset))

    def __repr__(self) -> str:
        return (
            f"NoiseCorruption(kind={self.kind!r}, sigma={self.sigma}, fraction={self.fraction}, "
            f"storage={self.storage!r}, seed={self.seed})"
        )
