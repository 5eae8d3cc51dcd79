"""Classifiers (normalisation inside the model) and the softplus surrogate swap."""

from robattr.models.activations import SwitchableReLU, make_switchable, softplus_surrogate
from robattr.models.factory import MODELS, create_model
from robattr.models.flower_resnet import FlowerResNet, PerImageStandardize
from robattr.models.mnist_cnn import MnistCNN
from robattr.models.torchvision_models import IMAGENET_MEAN, IMAGENET_STD, Normalize, TorchvisionClassifier

__all__ = [
    "MODELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FlowerResNet",
    "MnistCNN",
    "Normalize",
    "PerImageStandardize",
    "SwitchableReLU",
    "TorchvisionClassifier",
    "create_model",
    "make_switchable",
    "softplus_surrogate",
]
