"""Activations of a named layer through a forward hook that stops the forward pass there."""

from __future__ import annotations

from torch import Tensor, nn


class _StopForward(Exception):
    """Raised by the hook once the probed layer has run: the rest of the network is not needed."""


def resolve_layer(model: nn.Module, layer: str) -> nn.Module:
    """The submodule of ``model`` named ``layer`` (a key of ``model.named_modules()``, e.g. ``net.layer4``).

    Raises:
        ValueError: if there is no such submodule; the message lists the valid names (the first 40).

    Example:
        >>> resolve_layer(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), "1")
        ReLU()
    """
    modules = dict(model.named_modules())
    if not isinstance(layer, str) or not layer or layer not in modules:
        names = [n for n in modules if n]
        shown = names if len(names) <= 40 else names[:40] + ["..."]
        raise ValueError(
            f"Expected `layer` to name a submodule of {type(model).__name__} (one of {shown}), but got {layer!r}"
        )
    return modules[layer]


class LayerActivations:
    """Callable returning the output ``(N, K, h, w)`` of one layer of ``model`` for inputs ``(N, C, H, W)``.

    A forward hook on the named module records its output (the first time the module runs in a forward pass) and stops
    the forward pass there, so the layers above it cost nothing. Gradients flow: the returned tensor is part of the
    graph when the inputs require grad (the attacks use this). The hook lives only for the duration of a call.

    Args:
        model: the network (its own normalisation inside, inputs in ``[0, 1]``).
        layer: name of the probed module in ``model.named_modules()``.

    Raises:
        ValueError: if ``layer`` names no submodule, or its output is not a 4-d tensor (checked at call time).

    Example:
        >>> import torch
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
        >>> LayerActivations(net, "1")(torch.rand(2, 3, 4, 4)).shape
        torch.Size([2, 4, 4, 4])
    """

    def __init__(self, model: nn.Module, layer: str) -> None:
        self.model = model
        self.layer = layer
        self.module = resolve_layer(model, layer)

    def __call__(self, x: Tensor) -> Tensor:
        captured: list[Tensor] = []

        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            captured.append(output)  # type: ignore[arg-type]
            raise _StopForward

        handle = self.module.register_forward_hook(hook)
        try:
            self.model(x)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if not captured:
            name = type(self.model).__name__
            raise ValueError(f"Expected the layer {self.layer!r} to run in the forward pass of {name}, but it did not")
        out = captured[0]
        if not isinstance(out, Tensor) or out.dim() != 4:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"Expected the output of layer {self.layer!r} to be a tensor of shape (N, K, h, w), but got {shape}"
            )
        return out
