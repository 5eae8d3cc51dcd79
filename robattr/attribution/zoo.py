"""Attribution methods by name: an explicit dictionary, no registry."""

from __future__ import annotations

from typing import Any

from robattr.attribution.agi import AdversarialGradientIntegration
from robattr.attribution.base import Attribution
from robattr.attribution.captum_adapter import LRP, DeepLift, GradientShap, InputXGradient
from robattr.attribution.expected_gradients import ExpectedGradients
from robattr.attribution.fullgrad import FullGrad
from robattr.attribution.gradcam import GradCAM
from robattr.attribution.ig_smoothgrad import IGSmoothGrad
from robattr.attribution.ig_squared import IGSquared
from robattr.attribution.ig_uniform import IGUniform
from robattr.attribution.integrated_gradients import IntegratedGradients
from robattr.attribution.lpi import LocalPathIntegration
from robattr.attribution.path import PathIntegral, check_estimator
from robattr.attribution.random_baseline import RandomAttribution
from robattr.attribution.recalibration import Recalibrated
from robattr.attribution.saliency import Saliency
from robattr.attribution.smoothgrad import SmoothGrad

METHODS: dict[str, type[Attribution]] = {
    "random": RandomAttribution,
    "input_gradient": Saliency,
    "gradcam": GradCAM,
    "smoothgrad": SmoothGrad,
    "fullgrad": FullGrad,
    "ig": IntegratedGradients,
    "ig_uniform": IGUniform,
    "ig_sg": IGSmoothGrad,
    "ig_sq": IGSquared,
    "eg": ExpectedGradients,
    "agi": AdversarialGradientIntegration,
    "lpi": LocalPathIntegration,
    "input_x_gradient": InputXGradient,
    "deeplift": DeepLift,
    "gradient_shap": GradientShap,
    "lrp": LRP,
}


def create_attribution(name: str, recalibration: str = "vanilla", **kwargs: Any) -> Attribution:
    """Build the method ``name`` of :data:`METHODS` with ``kwargs``, re-calibrated unless ``recalibration="vanilla"``.

    Args:
        name: a key of :data:`METHODS` (``ig``, ``ig_uniform``, ``ig_sg``, ``ig_sq``, ``eg``, ``agi``, ``lpi`` are
            integral methods; ``input_gradient`` is the signed :class:`~robattr.attribution.Saliency`).
        recalibration: ``vanilla``, ``valid_ip`` or ``valid_ref``; the last two need an integral method.
        **kwargs: constructor arguments.

    Raises:
        ValueError: for an unknown ``name`` (the message lists the valid ones), an unknown ``recalibration``, or a
            re-calibration of a method that is not an integral method.

    Example:
        >>> method = create_attribution("ig_uniform", recalibration="valid_ip", n_references=2)
        >>> type(method).__name__, type(method.method).__name__, method.method.n_references, method.mode
        ('Recalibrated', 'IGUniform', 2, 'valid_ip')
    """
    if name not in METHODS:
        raise ValueError(f"Expected `name` to be one of {sorted(METHODS)}, but got {name!r}")
    check_estimator(recalibration)
    method = METHODS[name](**kwargs)
    if recalibration == "vanilla":
        return method
    if not isinstance(method, PathIntegral):
        raise ValueError(
            f"Expected `recalibration` to be 'vanilla' for {name!r}, which is not an integral method, but got"
            f" {recalibration!r}"
        )
    return Recalibrated(method, recalibration)
