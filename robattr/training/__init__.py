"""LightningModules that train classifiers: natural, PGD (Madry et al.) and RAR's IG-NORM / IG-SUM-NORM."""

from robattr.training.classifier import ClassifierModule
from robattr.training.guards import NonFiniteError
from robattr.training.modes import IGNormTraining, IGSumNormTraining, NaturalTraining, PGDTraining
from robattr.training.schedules import PiecewiseConstantLR

__all__ = [
    "ClassifierModule",
    "IGNormTraining",
    "IGSumNormTraining",
    "NaturalTraining",
    "NonFiniteError",
    "PGDTraining",
    "PiecewiseConstantLR",
]
