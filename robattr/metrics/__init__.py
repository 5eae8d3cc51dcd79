"""Attribution-robustness metrics as :class:`torchmetrics.Metric` classes; functional forms in
:mod:`robattr.metrics.functional`.

Every class averages a per-sample score in ``score_sum`` / ``score_sq_sum`` / ``total`` states summed across
processes, so ``compute_stats()`` gives the mean, its standard error and the count (:func:`metric_stats` for a whole
collection); its ``update`` takes an optional bool ``valid`` mask ``(N,)`` to leave out samples (padded DDP
duplicates, failed attacks). Metrics receive tensors (maps ``(N, H, W)``), never models.
"""

from robattr.metrics._base import metric_stats
from robattr.metrics.center_of_mass import CenterOfMassShift
from robattr.metrics.diffid import DiffID
from robattr.metrics.lens_rank_correlation import LENSKendallTau, LENSSpearmanRho
from robattr.metrics.mean_score import MeanScore
from robattr.metrics.rank_correlation import KendallTau, SpearmanRho
from robattr.metrics.sanity import SanityCheck
from robattr.metrics.sensitivity import SensitivityN
from robattr.metrics.topk import LENSPrecision, LENSRecall, TopKIntersection
from robattr.metrics.topk_div import LENSPrecisionDiv, LENSRecallDiv, TopKDivIntersection, TopKDivScores

__all__ = [
    # attribution robustness (clean vs perturbed maps)
    "TopKIntersection",
    "LENSRecall",
    "LENSPrecision",
    "TopKDivIntersection",
    "LENSRecallDiv",
    "LENSPrecisionDiv",
    "TopKDivScores",
    "KendallTau",
    "SpearmanRho",
    "CenterOfMassShift",
    # robattr's own LENS rank-correlation variant
    "LENSKendallTau",
    "LENSSpearmanRho",
    # generic per-sample mean (accuracy, attack success rate)
    "MeanScore",
    # faithfulness (model outputs on perturbed inputs; re-calibration / LPI papers)
    "DiffID",
    "SensitivityN",
    "SanityCheck",
    # mean, standard error and n of every score
    "metric_stats",
]
