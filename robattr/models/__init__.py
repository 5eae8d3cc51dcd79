"""Classifiers (normalisation inside the model), the softplus surrogate swap, the planted-unit CNN, cascading
parameter randomisation and small model helpers (device, dtype, eval mode).
"""

from robattr.models.activations import SwitchableReLU, make_switchable, softplus_surrogate
from robattr.models.factory import MODELS, create_model
from robattr.models.flower_resnet import FlowerResNet, PerImageStandardize
from robattr.models.mnist_cnn import MnistCNN
from robattr.models.planted import PlantedUnitCNN
from robattr.models.randomization import cascading_randomization, randomization_order
from robattr.models.torchvision_models import IMAGENET_MEAN, IMAGENET_STD, Normalize, TorchvisionClassifier
from robattr.models.utils import eval_mode, model_device, model_dtype, to_model

__all__ = [
    "MODELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "FlowerResNet",
    "MnistCNN",
    "Normalize",
    "PerImageStandardize",
    "PlantedUnitCNN",
    "SwitchableReLU",
    "TorchvisionClassifier",
    "cascading_randomization",
    "create_model",
    "eval_mode",
    "make_switchable",
    "model_device",
    "model_dtype",
    "randomization_order",
    "softplus_surrogate",
    "to_model",
]
