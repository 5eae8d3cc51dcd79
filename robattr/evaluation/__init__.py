"""The jobs ``evaluate.py`` runs under ``trainer.test``: attribution robustness, faithfulness, map pictures.

:class:`EvaluationModule` (``base.py``) loads the classifier, drops DDP padding and writes the result tables; each job
implements ``evaluate_batch`` and ``result_rows``.
"""

from robattr.evaluation.attribution_robustness import AttributionRobustnessEvaluation
from robattr.evaluation.base import EvaluationModule, load_classifier
from robattr.evaluation.faithfulness import FaithfulnessEvaluation
from robattr.evaluation.visualize import VisualizeAttributions

__all__ = [
    "AttributionRobustnessEvaluation",
    "EvaluationModule",
    "FaithfulnessEvaluation",
    "VisualizeAttributions",
    "load_classifier",
]
