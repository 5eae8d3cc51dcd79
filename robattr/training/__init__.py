"""LightningModules: natural, PGD and RAR training, and the evaluation jobs of ``evaluate.py``."""

from robattr.training.classifier import ClassifierModule
from robattr.training.schedules import PiecewiseConstantLR
from robattr.training.modes import IGNormTraining, IGSumNormTraining, NaturalTraining, PGDTraining

__all__ = ["ClassifierModule", "PiecewiseConstantLR", "IGNormTraining", "IGSumNormTraining", "NaturalTraining", "PGDTraining"]
