"""LightningDataModules. Inputs are always float tensors in ``[0, 1]``; normalisation lives inside the model.

Every datamodule derives from :class:`ImageDataModule`: ``num_classes``, ``input_shape`` ``(C, H, W)``,
``class_names``, ``train_set`` / ``val_set`` / ``test_set`` after ``setup``, ``dataset(split)``, splits fixed by
``seed``, items ``(x, y)`` with ``y`` int64. :data:`DATAMODULES` maps short names to classes. A truncated or corrupt
file raises :class:`CorruptFileError` (a ``ValueError``) naming the file and what to do (:mod:`robattr.data.files`).
"""

from robattr.data.augment import rar_augment, rar_distortion, warp_images
from robattr.data.base import ImageDataModule
from robattr.data.cifar10 import CIFAR10, read_cifar_batch
from robattr.data.datasets import TensorImageDataset
from robattr.data.files import CorruptFileError
from robattr.data.flower17 import FLOWER17_CLASSES, Flower17, rar_train_test_indices
from robattr.data.flower102 import Flower102
from robattr.data.imagenet import ImageNet
from robattr.data.mnist import MNIST, read_idx_ubyte
from robattr.data.mnist5k import MNIST5k
from robattr.data.splits import per_class_split, stratified_split
from robattr.data.synthetic import SyntheticImages

# Broden (Network Dissection probing sets): robattr/data/broden.py reads, robattr/data/broden_synthetic.py writes.

DATAMODULES: dict[str, type[ImageDataModule]] = {
    "mnist5k": MNIST5k,
    "mnist": MNIST,
    "flower17": Flower17,
    "flower102": Flower102,
    "cifar10": CIFAR10,
    "imagenet": ImageNet,
    "synthetic": SyntheticImages,
}

__all__ = [
    "CIFAR10",
    "CorruptFileError",
    "DATAMODULES",
    "FLOWER17_CLASSES",
    "MNIST",
    "Flower17",
    "Flower102",
    "ImageDataModule",
    "ImageNet",
    "MNIST5k",
    "SyntheticImages",
    "TensorImageDataset",
    "per_class_split",
    "rar_augment",
    "rar_distortion",
    "rar_train_test_indices",
    "read_cifar_batch",
    "read_idx_ubyte",
    "stratified_split",
    "warp_images",
]
