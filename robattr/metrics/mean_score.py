"""Mean of per-sample values computed elsewhere, with the same ``valid`` mask as the map metrics."""

from __future__ import annotations

from torch import Tensor

from robattr.metrics._base import _MeanOverSamples
from robattr.metrics.functional.mean_score import _mean_score_update


class MeanScore(_MeanOverSamples):
    r"""Mean of per-sample values over the valid samples: accuracy, attack success rate, any per-image score.

    .. math:: \frac{\sum_i v_i [\mathrm{valid}_i]}{\sum_i [\mathrm{valid}_i]}

    Sum / count states synced with ``dist_reduce_fx="sum"``, like every robattr metric, so padded DDP duplicates
    are dropped the same way: pass ``valid``. Bool values count as 0 / 1.

    As input to ``forward`` and ``update`` the metric accepts ``values`` ``(N,)`` and an optional bool ``valid``
    ``(N,)``.

    ``higher_is_better`` is ``None``: it depends on the values (accuracy or attack success rate).

    Args:
        kwargs: passed to :class:`torchmetrics.Metric`.

    Raises:
        ValueError: at ``update``, if ``values`` is not 1-D or holds NaN or infinite values, or ``valid`` is not a
            bool tensor of the same length.
        TypeError: at ``update``, if ``values`` is not a tensor.

    Example:
        >>> import torch
        >>> accuracy = MeanScore()
        >>> accuracy.update(torch.tensor([True, False, True]))
        >>> accuracy.update(torch.tensor([True, True]), valid=torch.tensor([True, False]))
        >>> accuracy.compute()
        tensor(0.7500)
    """

    higher_is_better = None

    def update(self, values: Tensor, valid: Tensor | None = None) -> None:
        """Add a batch of per-sample values."""
        self._accumulate(*_mean_score_update(values, valid))
