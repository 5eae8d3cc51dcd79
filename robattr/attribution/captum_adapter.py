"""Adapters for captum's attribution methods (no double backprop), and the module swap they need."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Literal

import torch
from torch import Tensor, nn

from robattr.attribution.base import Attribution
from robattr.attribution.objectives import Objective
from robattr.models import Normalize, SwitchableReLU

CAPTUM_METHODS: tuple[str, ...] = (
    "Deconvolution",
    "DeepLift",
    "DeepLiftShap",
    "FeatureAblation",
    "GradientShap",
    "GuidedBackprop",
    "InputXGradient",
    "IntegratedGradients",
    "KernelShap",
    "LRP",
    "Lime",
    "Occlusion",
    "Saliency",
    "ShapleyValueSampling",
)
# captum methods that treat activation modules by type (hooks on nn.ReLU ...): they run inside captum_compatible
MODULE_RULE_METHODS: frozenset[str] = frozenset({"Deconvolution", "DeepLift", "DeepLiftShap", "GuidedBackprop", "LRP"})
_ACTIVATIONS = (SwitchableReLU, nn.ReLU, nn.LeakyReLU)


def _plain_activation(module: nn.Module) -> nn.Module:
    """A fresh, non-in-place torch activation computing what ``module`` computes."""
    if isinstance(module, SwitchableReLU):
        if module.surrogate_beta is not None:
            if module.negative_slope != 0:
                raise ValueError(f"Expected no leaky softplus surrogate for a captum method, but got {module}")
            return nn.Softplus(beta=module.surrogate_beta)
        return nn.LeakyReLU(module.negative_slope) if module.negative_slope > 0 else nn.ReLU()
    if isinstance(module, nn.LeakyReLU):
        return nn.LeakyReLU(module.negative_slope)
    return nn.ReLU()


class _PerCall(nn.Module):
    """Stands for an activation module called several times per forward: call ``i`` runs child ``i``."""

    def __init__(self, children: list[nn.Module]) -> None:
        super().__init__()
        self.calls = nn.ModuleList(children)
        self.count = 0

    def forward(self, x: Tensor) -> Tensor:
        out = self.calls[self.count % len(self.calls)](x)
        self.count += 1
        return out


class _Copy(nn.Module):
    """A leaf returning a copy of its input (LRP's identity rule needs distinct input and output tensors)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.clone()


class _Flatten(nn.Module):
    """``nn.Flatten`` with a copy child that carries LRP's identity rule (captum has no rule for a reshape)."""

    def __init__(self, flatten: nn.Flatten) -> None:
        from captum.attr._utils.lrp_rules import IdentityRule

        super().__init__()
        self.copy = _Copy()
        self.copy.rule = IdentityRule()
        self.start_dim, self.end_dim = flatten.start_dim, flatten.end_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.copy(x).flatten(self.start_dim, self.end_dim)


def _call_counts(model: nn.Module, inputs: Tensor) -> dict[nn.Module, int]:
    counts: dict[nn.Module, int] = {}
    acts = {m for m in model.modules() if isinstance(m, _ACTIVATIONS)}

    def hook(module: nn.Module, _inp: Any, _out: Any) -> None:
        counts[module] = counts.get(module, 0) + 1

    handles = [m.register_forward_hook(hook) for m in acts]
    try:
        with torch.no_grad():
            model(inputs[:1])
    finally:
        for h in handles:
            h.remove()
    return counts


@contextmanager
def captum_compatible(model: nn.Module, inputs: Tensor, lrp: bool = False) -> Iterator[nn.Module]:
    """Within the block ``model`` has one plain torch activation module per call site; restored afterwards.

    captum's DeepLift and LRP recognise activations by type (``nn.ReLU``, ``nn.LeakyReLU``, ...), so robattr's
    :class:`~robattr.models.SwitchableReLU` would silently get the plain gradient in DeepLift and is rejected by LRP.
    Both also break on an activation module that is called more than once per forward (torchvision's ResNet blocks
    reuse ``self.relu``). This context replaces every ``SwitchableReLU`` / ``nn.ReLU`` / ``nn.LeakyReLU`` by fresh,
    non-in-place torch modules, one per call (found by a forward pass of ``inputs[:1]``). With ``lrp=True`` it also
    gives ``nn.Flatten`` and robattr's ``Normalize`` the identity rule (relevance passes unchanged) and
    removes the rules captum attached when the block ends. Parameters are shared, never copied.

    Example:
        >>> from robattr.models import MnistCNN
        >>> net = MnistCNN()
        >>> with captum_compatible(net, torch.rand(1, 1, 28, 28)):
        ...     type(net.features[1]).__name__
        'ReLU'
        >>> type(net.features[1]).__name__
        'SwitchableReLU'
    """
    counts = _call_counts(model, inputs)
    swaps: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            new: nn.Module | None = None
            if isinstance(child, _ACTIVATIONS):
                n = counts.get(child, 1)
                new = _plain_activation(child) if n <= 1 else _PerCall([_plain_activation(child) for _ in range(n)])
            elif lrp and isinstance(child, nn.Flatten):
                new = _Flatten(child)
            if new is not None:
                swaps.append((parent, name, child))
                setattr(parent, name, new)
    per_call = [m for m in model.modules() if isinstance(m, _PerCall)]

    def reset_counts(*_: Any) -> None:
        for m in per_call:
            m.count = 0

    reset = model.register_forward_pre_hook(reset_counts)
    had_rule = {m for m in model.modules() if hasattr(m, "rule")}
    if lrp:
        from captum.attr._utils.lrp_rules import IdentityRule

        for m in model.modules():
            if isinstance(m, Normalize) and not hasattr(m, "rule"):
                m.rule = IdentityRule()
    try:
        yield model
    finally:
        reset.remove()
        for parent, name, child in reversed(swaps):
            setattr(parent, name, child)
        for m in model.modules():
            if m not in had_rule:
                for attr in ("rule", "activations"):
                    if attr in m.__dict__:
                        delattr(m, attr)


class CaptumAttribution(Attribution):
    """Any captum input-attribution method built from the model alone, e.g. ``CaptumAttribution("Occlusion", ...)``.

    ``captum.attr.<method_name>(model, **init_kwargs).attribute(inputs, target=target, **attribute_kwargs)``, inside
    :func:`captum_compatible` for the methods that treat activation modules by type (:data:`MODULE_RULE_METHODS`);
    call kwargs (``baselines=`` ...) are added to ``attribute_kwargs``. captum attributions
    are not differentiable (``supports_create_graph = False``) and explain a column of the model output, so the
    objective is always ``logit``.

    Args:
        method_name: one of :data:`CAPTUM_METHODS`.
        objective: must be ``logit``.
        init_kwargs: keyword arguments of the captum constructor (``multiply_by_inputs`` ...).
        **attribute_kwargs: keyword arguments of ``attribute`` (``sliding_window_shapes``, ``n_samples`` ...).

    Raises:
        ValueError: for an unknown ``method_name`` (the message lists the valid ones) or another objective.

    Example:
        >>> model = torch.nn.Linear(3, 2)
        >>> CaptumAttribution("Saliency", abs=False)(model, torch.rand(4, 3), target=1).shape
        torch.Size([4, 3])
    """

    def __init__(
        self,
        method_name: str,
        objective: Objective = "logit",
        init_kwargs: dict[str, Any] | None = None,
        **attribute_kwargs: Any,
    ) -> None:
        if method_name not in CAPTUM_METHODS:
            raise ValueError(f"Expected `method_name` to be one of {list(CAPTUM_METHODS)}, but got {method_name!r}")
        super().__init__(objective)
        if objective != "logit":
            raise ValueError(
                "Expected `objective` to be 'logit' for a captum method (it explains an output column), but got"
                f" {objective!r}"
            )
        self.method_name = method_name
        self.init_kwargs = dict(init_kwargs or {})
        self.attribute_kwargs = attribute_kwargs

    def _attribute(
        self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool, **kwargs: Any
    ) -> Tensor:
        import captum.attr  # imported on use: importing robattr.attribution stays fast

        swap = (
            captum_compatible(model, inputs, lrp=self.method_name == "LRP")
            if self.method_name in MODULE_RULE_METHODS
            else nullcontext(model)
        )
        with swap as net, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
            explainer = getattr(captum.attr, self.method_name)(net, **self.init_kwargs)
            attr = explainer.attribute(
                inputs.detach().requires_grad_(True), target=target, **{**self.attribute_kwargs, **kwargs}
            )
        return attr.detach()


class InputXGradient(CaptumAttribution):
    """``A = x * dz_t/dx`` (captum's ``InputXGradient``, the LENS paper's ImageNet method list).

    Example:
        >>> model = torch.nn.Linear(3, 2, bias=False)
        >>> InputXGradient()(model, torch.ones(1, 3), target=0).shape
        torch.Size([1, 3])
    """

    def __init__(self) -> None:
        super().__init__("InputXGradient")


class DeepLift(CaptumAttribution):
    """DeepLIFT with the rescale rule (Shrikumar et al. 2017), captum's ``DeepLift``, constant baseline by default.

    Summation to delta: ``A.sum() = z_t(x) - z_t(baseline)`` (exact for ReLU / max-pool networks up to captum's
    ``eps``). Needs :func:`captum_compatible` (done here), which also makes it work on ResNets that reuse ``relu``.

    Args:
        baseline: constant baseline value when ``baselines`` is not passed per call (0 = black).
        multiply_by_inputs: ``True`` for global attributions (captum's default).

    Example:
        >>> from robattr.models import MnistCNN
        >>> DeepLift()(MnistCNN(), torch.rand(2, 1, 28, 28), target=1).shape
        torch.Size([2, 1, 28, 28])
    """

    def __init__(self, baseline: float = 0.0, multiply_by_inputs: bool = True) -> None:
        super().__init__("DeepLift", init_kwargs={"multiply_by_inputs": multiply_by_inputs})
        self.baseline = baseline

    def _attribute(
        self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool, **kwargs: Any
    ) -> Tensor:
        kwargs.setdefault("baselines", torch.full_like(inputs, self.baseline))
        return super()._attribute(model, inputs, target, create_graph=create_graph, **kwargs)


class GradientShap(CaptumAttribution):
    """GradientSHAP (Lundberg & Lee 2017), captum's ``GradientShap``: random baseline, random point, noisy input.

    Baselines per call (``baselines=``, ``(B, ...)``) or from ``baseline``: ``black`` (one zero image) or ``uniform``
    (``n_baselines`` images ``U[0, 1]`` drawn per call). Random draws use numpy's global generator (captum's).

    Args:
        n_samples: samples per input.
        stdevs: std of the Gaussian noise added to the input.
        baseline: ``black`` or ``uniform``.
        n_baselines: number of uniform baselines.

    Example:
        >>> model = torch.nn.Linear(3, 2)
        >>> GradientShap(n_samples=4)(model, torch.rand(2, 3), target=1).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        n_samples: int = 50,
        stdevs: float = 0.0,
        baseline: Literal["black", "uniform"] = "black",
        n_baselines: int = 10,
    ) -> None:
        super().__init__("GradientShap", n_samples=n_samples, stdevs=stdevs)
        if baseline not in ("black", "uniform"):
            raise ValueError(f"Expected `baseline` to be one of ['black', 'uniform'], but got {baseline!r}")
        if isinstance(n_baselines, bool) or not isinstance(n_baselines, int) or n_baselines < 1:
            raise ValueError(f"Expected `n_baselines` to be a positive integer, but got {n_baselines!r}")
        self.baseline = baseline
        self.n_baselines = n_baselines

    def _attribute(
        self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool, **kwargs: Any
    ) -> Tensor:
        if "baselines" not in kwargs:
            shape = (1 if self.baseline == "black" else self.n_baselines,) + tuple(inputs.shape[1:])
            make = torch.zeros if self.baseline == "black" else torch.rand
            kwargs["baselines"] = make(shape, device=inputs.device, dtype=inputs.dtype)
        return super()._attribute(model, inputs, target, create_graph=create_graph, **kwargs)


class LRP(CaptumAttribution):
    """Layer-wise Relevance Propagation (Bach et al. 2015), captum's ``LRP`` with its default epsilon rules.

    :func:`captum_compatible` swaps robattr's activations for ``nn.ReLU`` and gives ``Flatten`` / ``Normalize`` the
    identity rule. captum has no rule for a residual addition written as ``+`` in ``forward`` (torchvision ResNets):
    the relevance there follows the plain gradient, so LRP on ResNets is not conservative; VGG and MnistCNN are fine.

    Example:
        >>> from robattr.models import MnistCNN
        >>> LRP()(MnistCNN(), torch.rand(2, 1, 28, 28), target=1).shape
        torch.Size([2, 1, 28, 28])
    """

    def __init__(self) -> None:
        super().__init__("LRP")
