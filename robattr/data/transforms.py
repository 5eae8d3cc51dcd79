"""PIL-image pipelines that end in a float32 ``(3, H, W)`` tensor in ``[0, 1]`` (no normalisation)."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.transforms import InterpolationMode, v2


def resize_crop_transform(resize_size: int, crop_size: int, resize_only: bool = False) -> nn.Module:
    """Resize the shorter side to ``resize_size`` then center-crop ``crop_size``, or, with ``resize_only``,
    resize straight to ``(crop_size, crop_size)`` ignoring the aspect ratio (the re-calibration code's
    ``Resize((224, 224))``).

    Bilinear, antialiased resizing of PIL images (torchvision's ImageNet protocol), then conversion to float32 in
    ``[0, 1]``.

    Example:
        >>> from PIL import Image
        >>> t = resize_crop_transform(256, 224)
        >>> x = t(Image.new("RGB", (300, 400), (255, 0, 0)))
        >>> x.shape, x.dtype, x[0].min().item()
        (torch.Size([3, 224, 224]), torch.float32, 1.0)
        >>> resize_crop_transform(256, 224, resize_only=True)(Image.new("RGB", (300, 400))).shape
        torch.Size([3, 224, 224])
    """
    if resize_only:
        geometry = [v2.Resize((crop_size, crop_size), interpolation=InterpolationMode.BILINEAR, antialias=True)]
    else:
        geometry = [
            v2.Resize(resize_size, interpolation=InterpolationMode.BILINEAR, antialias=True),
            v2.CenterCrop(crop_size),
        ]
    return v2.Compose([*geometry, v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


def random_resized_crop_transform(crop_size: int) -> nn.Module:
    """The usual ImageNet training augmentation: random resized crop and horizontal flip, to ``[0, 1]``.

    Example:
        >>> from PIL import Image
        >>> random_resized_crop_transform(32)(Image.new("RGB", (50, 40))).shape
        torch.Size([3, 32, 32])
    """
    return v2.Compose(
        [
            v2.RandomResizedCrop(crop_size, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
