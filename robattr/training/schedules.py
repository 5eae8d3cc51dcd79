"""Learning-rate schedules used by the papers' configs."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class PiecewiseConstantLR(LRScheduler):
    """TF's ``piecewise_constant``: ``values[i]`` while ``step <= boundaries[i]``, ``values[-1]`` after the last.

    RAR's Flower schedule is ``boundaries=[500, 60000], values=[1e-3, 1e-2, 1e-3]``; step it every optimizer step.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = PiecewiseConstantLR(opt, boundaries=[1, 2], values=[0.1, 0.2, 0.3])
        >>> lrs = []
        >>> for _ in range(4):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> lrs
        [0.1, 0.1, 0.2, 0.3]
    """

    def __init__(self, optimizer: Optimizer, boundaries: list[int], values: list[float], last_epoch: int = -1) -> None:
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"Expected `values` to have len(boundaries) + 1 = {len(boundaries) + 1} entries, but got {len(values)}"
            )
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"Expected `boundaries` to be strictly increasing, but got {boundaries}")
        self.boundaries, self.values = list(boundaries), list(values)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        value = next((v for b, v in zip(self.boundaries, self.values) if step <= b), self.values[-1])
        return [value for _ in self.optimizer.param_groups]
