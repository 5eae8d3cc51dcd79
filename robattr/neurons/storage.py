"""Writing corrupted probing images into a mirror of ``images/``, lossless or as the reference did (8-bit JPEG).

The reference code saves every poisoned image with PIL under its original ``.jpg`` name: the float image is
multiplied by 255, **truncated** to uint8 and **re-encoded as JPEG at PIL's default quality (75)**. The corruption it
measures is therefore noise + quantisation + a second JPEG compression; even a zero perturbation alters the images.
``storage="jpeg"`` reproduces that; ``storage="lossless"`` keeps the float32 tensor exactly (a ``.pt`` file), so the
two effects can be told apart. :class:`~robattr.data.broden.BrodenDataset` reads either through ``image_overrides``.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from robattr.data.broden import JPEG_SUFFIX, LOSSLESS_SUFFIX, BrodenDataset
from robattr.neurons.outputs import atomic_file

Storage = Literal["lossless", "jpeg"]
STORAGES: tuple[str, ...] = ("lossless", "jpeg")


def check_storage(storage: str) -> None:
    """Raise ``ValueError`` unless ``storage`` is one of :data:`STORAGES`."""
    if storage not in STORAGES:
        raise ValueError(f"Expected `storage` to be one of {list(STORAGES)}, but got {storage!r}")


def to_uint8_truncated(image: Tensor) -> np.ndarray:
    """``(3, H, W)`` in ``[0, 1]`` -> ``(H, W, 3)`` uint8 by ``x * 255`` **truncated** (the reference's quirk)."""
    return (image.detach().clamp(0, 1) * 255.0).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def jpeg_roundtrip(image: Tensor) -> Tensor:
    """What the reference's storage does to an image: truncate to 8 bits, JPEG (quality 75), decode.

    Example:
        >>> x = torch.full((3, 16, 16), 0.5)
        >>> y = jpeg_roundtrip(x)
        >>> y.shape, bool((y - x).abs().max() < 0.01)
        (torch.Size([3, 16, 16]), True)
    """
    buffer = io.BytesIO()
    Image.fromarray(to_uint8_truncated(image)).save(buffer, format="JPEG")
    buffer.seek(0)
    with Image.open(buffer) as img:
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def override_path(out_dir: str, image: str, storage: Storage) -> str:
    """Where the corrupted version of ``images/<image>`` goes under ``out_dir``.

    Lossless: ``<out_dir>/images/<image>.pt``. JPEG: ``<out_dir>/images/<image>`` for a ``.jpg`` original (as the
    reference), else ``<out_dir>/images/<image>.jpg``.
    """
    base = os.path.join(out_dir, "images", image)
    if storage == "lossless":
        return base + LOSSLESS_SUFFIX
    return base if image.lower().endswith(JPEG_SUFFIX) else base + JPEG_SUFFIX


def store_images(images: Tensor, names: Sequence[str], out_dir: str, storage: Storage) -> None:
    """Write corrupted ``images`` ``(B, 3, H, W)`` in ``[0, 1]`` under ``out_dir`` for the originals ``names``.

    Each file is written to a temporary name and moved into place (:func:`robattr.neurons.outputs.atomic_file`).
    """
    check_storage(storage)
    if images.shape[0] != len(names):
        raise ValueError(f"Expected one name per image ({images.shape[0]}), but got {len(names)}")
    for image, name in zip(images.detach().cpu(), names):
        path = override_path(out_dir, name, storage)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_file(path, "wb", sync=False) as f:  # a kill never leaves a torn image for a later run to read
            if storage == "lossless":
                torch.save(image.float().clone(), f)
            else:
                Image.fromarray(to_uint8_truncated(image)).save(f, format="JPEG")


class Poisoning:
    """Which images of a probing set a corruption replaced, and where the replacements are.

    Args:
        out_dir: the mirror directory (pass it as ``image_overrides``, or use :meth:`dataset`).
        indices: dataset indices of the replaced images.
        num_images: size of the probing set.
    """

    def __init__(self, out_dir: str, indices: Sequence[int], num_images: int) -> None:
        self.out_dir = out_dir
        self.indices = sorted(int(i) for i in indices)
        self.num_images = num_images

    @property
    def fraction(self) -> float:
        """Poisoned fraction ``|A| / |D_p|``."""
        return len(self.indices) / max(1, self.num_images)

    def dataset(self, clean: BrodenDataset) -> BrodenDataset:
        """The corrupted probing set: ``clean`` reading the replaced images."""
        return clean.redirect(self.out_dir)

    def __repr__(self) -> str:
        return f"Poisoning(out_dir={self.out_dir!r}, poisoned={len(self.indices)}/{self.num_images})"


_MARKER = ".robattr-poisoned-images"


def prepare_out_dir(out_dir: str) -> None:
    """Create ``out_dir/images`` empty. A previous output of robattr there (marked) is removed; anything else is kept
    and refused, so a wrong path never loses data and stale images never leak into a new corrupted set.
    """
    images = os.path.join(out_dir, "images")
    marker = os.path.join(out_dir, _MARKER)
    if os.path.isdir(images) and os.listdir(images):
        if not os.path.isfile(marker):
            raise ValueError(
                f"Expected `out_dir` to be a new directory or one written by robattr, but got {out_dir!r} with foreign "
                "files in images/"
            )
        shutil.rmtree(images)
    os.makedirs(images, exist_ok=True)
    with open(marker, "w", encoding="utf-8") as f:
        f.write("corrupted probing images written by robattr.neurons; safe to delete\n")
