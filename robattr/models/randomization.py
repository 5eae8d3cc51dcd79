"""Cascading model-parameter randomisation for the sanity check of Adebayo et al. (NeurIPS 2018), as in the
re-calibration code: re-draw the layers' parameters from the top of the network down, one more layer at each stage.
A method that passes the check gives maps that decorrelate as more layers are randomised.

:func:`cascading_randomization` edits a deep copy of the model (never the model itself) and never runs it: the caller
computes the maps of each stage and hands them to :func:`robattr.metrics.functional.sanity_rank_correlation` (or
:class:`robattr.metrics.SanityCheck`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Literal

import torch
from torch import nn

Randomization = Literal["normal", "reset"]


def randomization_order(model: nn.Module) -> list[str]:
    """Names of the modules that own parameters, from the output layer back to the input (the cascade's order).

    Example:
        >>> from robattr.models import MnistCNN
        >>> randomization_order(MnistCNN())
        ['classifier.3', 'classifier.1', 'features.3', 'features.0']
    """
    names = [name for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]
    return names[::-1]


@torch.no_grad()
def _randomize(module: nn.Module, mode: Randomization, generator: torch.Generator | None) -> None:
    if mode == "reset":
        if not hasattr(module, "reset_parameters"):
            raise ValueError(
                f"Expected modules with `reset_parameters` for mode='reset', but got {type(module).__name__}"
            )
        module.reset_parameters()
        return
    for p in module.parameters(recurse=False):
        mean, std = p.mean(), p.std() if p.numel() > 1 else p.new_zeros(())
        noise = torch.randn(p.shape, generator=generator, device=generator.device if generator is not None else "cpu")
        p.copy_(mean + std * noise.to(device=p.device, dtype=p.dtype))


def cascading_randomization(
    model: nn.Module,
    layers: Sequence[str] | None = None,
    mode: Randomization = "normal",
    generator: torch.Generator | None = None,
) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(layer name, model copy)`` with the layers up to that one randomised, top layer first.

    One deep copy of ``model`` is made and randomised further at each stage, so a stage's model is valid until the
    next iteration (copy it to keep it). ``normal`` re-draws every parameter of the layer from a normal distribution
    with the mean and std of the trained tensor (the re-calibration code's rule, for weights and biases alike);
    ``reset`` calls the layer's ``reset_parameters`` (its initialisation).

    Args:
        model: the trained model (left unchanged).
        layers: module names in cascade order (default :func:`randomization_order`).
        mode: ``normal`` or ``reset``.
        generator: random generator (CPU) for ``normal``.

    Raises:
        ValueError: for an unknown ``mode`` or layer name.

    Example:
        >>> from robattr.models import MnistCNN
        >>> net = MnistCNN()
        >>> [name for name, _ in cascading_randomization(net, layers=["classifier.3", "classifier.1"])]
        ['classifier.3', 'classifier.1']
    """
    if mode not in ("normal", "reset"):
        raise ValueError(f"Expected `mode` to be one of ['normal', 'reset'], but got {mode!r}")
    names = randomization_order(model) if layers is None else list(layers)
    known = dict(model.named_modules())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"Expected `layers` to name modules of the model, but got {unknown}")
    randomized = copy.deepcopy(model)
    for name in names:
        _randomize(randomized.get_submodule(name), mode, generator)
        yield name, randomized
