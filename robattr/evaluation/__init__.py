"""The jobs ``evaluate.py`` runs under ``trainer.test``: attribution robustness, faithfulness, map pictures.

:class:`EvaluationModule` (``base.py``) loads and checks the classifier, applies the image budget, drops DDP
padding, saves resumable state, shows progress, stops on signals and writes the result tables with their metadata;
each job implements ``evaluate_batch`` and ``result_rows``. :func:`read_results` reads ``results.json`` /
``results.csv`` back as ``(metadata, rows)``.
"""

from robattr.evaluation.attribution_robustness import AttributionRobustnessEvaluation
from robattr.evaluation.base import EvaluationModule, load_classifier
from robattr.evaluation.faithfulness import FaithfulnessEvaluation
from robattr.evaluation.results import read_results
from robattr.evaluation.visualize import VisualizeAttributions

__all__ = [
    "AttributionRobustnessEvaluation",
    "EvaluationModule",
    "FaithfulnessEvaluation",
    "VisualizeAttributions",
    "load_classifier",
    "read_results",
]
