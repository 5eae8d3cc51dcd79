"""Attribution methods: one file each; ``base.py`` holds the :class:`Attribution` interface."""

from robattr.attribution.agi import AdversarialGradientIntegration
from robattr.attribution.base import Attribution
from robattr.attribution.captum_adapter import (
    CAPTUM_METHODS,
    LRP,
    CaptumAttribution,
    DeepLift,
    GradientShap,
    InputXGradient,
    captum_compatible,
)
from robattr.attribution.expected_gradients import ExpectedGradients
from robattr.attribution.fullgrad import FullGrad, full_gradient_decompose
from robattr.attribution.gradcam import GradCAM, default_cam_layer
from robattr.attribution.ig_smoothgrad import IGSmoothGrad
from robattr.attribution.ig_squared import IGSquared
from robattr.attribution.ig_uniform import IGUniform
from robattr.attribution.integrated_gradients import IntegratedGradients, riemann_points
from robattr.attribution.kmeans import kmeans
from robattr.attribution.lpi import LocalPathIntegration
from robattr.attribution.maps import CHANNEL_REDUCTIONS, ChannelReduction, attribution_map
from robattr.attribution.objectives import OBJECTIVES, select_objective
from robattr.attribution.path import ESTIMATORS, PathAccumulator, PathChunk, PathIntegral
from robattr.attribution.random_baseline import RandomAttribution
from robattr.attribution.recalibration import Recalibrated
from robattr.attribution.saliency import Saliency
from robattr.attribution.smoothgrad import SmoothGrad
from robattr.attribution.visualize import attribution_cells, attribution_grid, colorize, heatmap, overlay
from robattr.attribution.zoo import METHODS, create_attribution

__all__ = [
    "CAPTUM_METHODS",
    "CHANNEL_REDUCTIONS",
    "ESTIMATORS",
    "LRP",
    "METHODS",
    "OBJECTIVES",
    "AdversarialGradientIntegration",
    "Attribution",
    "CaptumAttribution",
    "ChannelReduction",
    "DeepLift",
    "ExpectedGradients",
    "FullGrad",
    "GradCAM",
    "GradientShap",
    "IGSmoothGrad",
    "IGSquared",
    "IGUniform",
    "InputXGradient",
    "IntegratedGradients",
    "LocalPathIntegration",
    "PathAccumulator",
    "PathChunk",
    "PathIntegral",
    "RandomAttribution",
    "Recalibrated",
    "Saliency",
    "SmoothGrad",
    "attribution_cells",
    "attribution_grid",
    "attribution_map",
    "captum_compatible",
    "colorize",
    "create_attribution",
    "default_cam_layer",
    "full_gradient_decompose",
    "heatmap",
    "kmeans",
    "overlay",
    "riemann_points",
    "select_objective",
]
