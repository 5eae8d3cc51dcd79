"""LightningModules: natural, PGD and RAR training, and the evaluation jobs of ``evaluate.py``."""

from robattr.training.attribution_robustness import AttributionRobustnessEvaluation
from robattr.training.classifier import ClassifierModule
from robattr.training.evaluation import EvaluationModule, load_classifier
from robattr.training.faithfulness import FaithfulnessEvaluation, VisualizeAttributions
from robattr.training.modes import IGNormTraining, IGSumNormTraining, NaturalTraining, PGDTraining
from robattr.training.schedules import PiecewiseConstantLR

__all__ = [
    "AttributionRobustnessEvaluation",
    "ClassifierModule",
    "EvaluationModule",
    "FaithfulnessEvaluation",
    "IGNormTraining",
    "IGSumNormTraining",
    "NaturalTraining",
    "PGDTraining",
    "PiecewiseConstantLR",
    "VisualizeAttributions",
    "load_classifier",
]
