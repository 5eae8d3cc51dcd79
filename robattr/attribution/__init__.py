"""Attribution methods: one file each; ``base.py`` holds the :class:`Attribution` interface."""

from robattr.attribution.base import Attribution
from robattr.attribution.integrated_gradients import IntegratedGradients, riemann_points
from robattr.attribution.maps import attribution_map
from robattr.attribution.objectives import OBJECTIVES, select_objective
from robattr.attribution.saliency import Saliency

__all__ = [
    "OBJECTIVES",
    "Attribution",
    "IntegratedGradients",
    "Saliency",
    "attribution_map",
    "riemann_points",
    "select_objective",
]
