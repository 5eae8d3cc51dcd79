r"""Network Dissection's IoU between unit masks and concept labels, with the category gate of the reference.

Over the probing set (label 0 is never a concept), with :math:`M_k(x) = \mathrm{up}(f_k(x)) > T_k` the unit's mask
(bilinear, ``align_corners=False``, to the label resolution; strict ``>``) and :math:`P_q(x)` the label planes:

- :math:`N_c = \sum_x \sum_q |\{p : P_q(x)_p = c\}|` (per plane: a pixel labelled in two planes counts twice);
- :math:`I_{k,c} = \sum_x \sum_q |\{p : M_k(x)_p \wedge P_q(x)_p = c\}|`;
- :math:`A_{k,g} = \sum_x |M_k(x)| \cdot [\exists c,\ \mathrm{primary}(c) = g,\ I_{k,c}(x) > 0]`: a unit's active
  pixels are charged to category ``g`` only on images where its mask touches a concept of that category;
- :math:`\mathrm{IoU}_{k,c} = I_{k,c} / (A_{k,\mathrm{primary}(c)} + N_c - I_{k,c} + 10^{-10})`.

This is NetDissect-Lite's ``tally_job`` (inherited unchanged by Srivastava et al.). All counts are integers, so the
IoU does not depend on batch size.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

_CHUNK_ELEMENTS = 1 << 24  # upsampled values per chunk: bounds the memory of a batch


class IoUTally:
    """Accumulates :math:`I`, :math:`A`, :math:`N` (and the mask sizes) batch by batch.

    Only the (image, unit) pairs whose activation map exceeds the threshold somewhere are upsampled (bilinear
    interpolation never exceeds the maximum of its input, so the others have empty masks).

    Args:
        num_units: ``K``.
        primary_category: ``(L,)`` index of each label's primary category, -1 for labels that are no concept.
        num_categories: ``G``.

    Example:
        >>> tally = IoUTally(1, torch.tensor([-1, 0]), 1)
        >>> acts = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])  # one image, one unit, 2x2
        >>> planes = torch.tensor([[[[1, 1], [0, 0]]]])  # one plane: label 1 on the top row
        >>> tally.update(acts, planes, torch.tensor([0.5]))
        >>> tally.intersection, tally.unit_category, tally.label_count
        (tensor([[0, 1]]), tensor([[1]]), tensor([2, 2]))
    """

    def __init__(self, num_units: int, primary_category: Tensor, num_categories: int) -> None:
        self.num_units = num_units
        self.num_labels = primary_category.numel()
        self.num_categories = num_categories
        self.primary_category = primary_category.long()
        self.intersection = torch.zeros(num_units, self.num_labels, dtype=torch.long)
        self.unit_category = torch.zeros(num_units, num_categories, dtype=torch.long)
        self.label_count = torch.zeros(self.num_labels, dtype=torch.long)
        self.unit_count = torch.zeros(num_units, dtype=torch.long)

    def _to(self, device: torch.device) -> None:
        if self.intersection.device != device:
            for name in ("intersection", "unit_category", "label_count", "unit_count", "primary_category"):
                setattr(self, name, getattr(self, name).to(device))

    def update(self, acts: Tensor, planes: Tensor, thresholds: Tensor) -> None:
        """Add a batch: ``acts`` ``(B, K, h, w)``, label numbers ``planes`` ``(B, Q, sh, sw)``, ``thresholds`` (K,)."""
        if acts.dim() != 4 or acts.shape[1] != self.num_units:
            raise ValueError(f"Expected `acts` of shape (B, {self.num_units}, h, w), but got {tuple(acts.shape)}")
        if planes.dim() != 4 or planes.shape[0] != acts.shape[0]:
            raise ValueError(f"Expected `planes` of shape ({acts.shape[0]}, Q, sh, sw), but got {tuple(planes.shape)}")
        acts = acts.float()  # thresholds are float32 (see robattr.neurons.quantile)
        device = acts.device
        self._to(device)
        thresholds = thresholds.to(device)
        size = tuple(planes.shape[-2:])
        labels = planes.to(device).flatten(2)  # (B, Q, P)
        self.label_count += torch.bincount(labels.flatten(), minlength=self.num_labels)[: self.num_labels]
        pair_b, pair_k = (acts.amax(dim=(2, 3)) > thresholds).nonzero(as_tuple=True)
        chunk = max(1, _CHUNK_ELEMENTS // (size[0] * size[1]))
        for start in range(0, pair_b.numel(), chunk):
            self._update_pairs(
                acts, labels, thresholds, pair_b[start : start + chunk], pair_k[start : start + chunk], size
            )

    def _update_pairs(
        self, acts: Tensor, labels: Tensor, thresholds: Tensor, b: Tensor, k: Tensor, size: tuple[int, int]
    ) -> None:
        n, L, G = b.numel(), self.num_labels, self.num_categories
        up = F.interpolate(acts[b, k][:, None], size=size, mode="bilinear", align_corners=False)
        mask = up.flatten(1) > thresholds[k][:, None]  # (n, P)
        sizes = mask.sum(1)
        self.unit_count.index_add_(0, k, sizes)
        i, p = mask.nonzero(as_tuple=True)
        lab = labels[b[i], :, p]  # (nnz, Q)
        valid = lab > 0
        rows, lab = i[:, None].expand_as(lab)[valid], lab[valid]
        self.intersection.view(-1).index_add_(0, k[rows] * L + lab, torch.ones_like(lab))
        cat = self.primary_category[lab]
        keep = cat >= 0
        touched = torch.zeros(n * G, dtype=torch.bool, device=acts.device)
        touched[rows[keep] * G + cat[keep]] = True
        self.unit_category.index_add_(0, k, touched.view(n, G).long() * sizes[:, None])


def iou_from_counts(
    intersection: Tensor, unit_category: Tensor, label_count: Tensor, primary_category: Tensor
) -> Tensor:
    """``(K, L)`` float64 IoU from the tallies (0 for labels with no primary category, e.g. label 0).

    Example:
        >>> iou_from_counts(torch.tensor([[0, 1]]), torch.tensor([[1]]), torch.tensor([0, 2]), torch.tensor([-1, 0]))
        tensor([[0.0000, 0.5000]], dtype=torch.float64)
    """
    valid = primary_category >= 0
    gate = unit_category[:, primary_category.clamp_min(0)].double()  # (K, L)
    inter = intersection.double()
    iou = inter / (gate + label_count.double()[None, :] - inter + 1e-10)
    return torch.where(valid[None, :].to(iou.device), iou, torch.zeros_like(iou))


class Concepts(NamedTuple):
    """Per unit: the assigned ``label`` ``(K,)`` (global number), its ``score`` (IoU) and ``category``, the
    ``top_labels`` / ``top_scores`` ``(K, 5)``, and the best label and score per category ``(K, G)``.
    """

    label: Tensor
    score: Tensor
    category: Tensor
    top_labels: Tensor
    top_scores: Tensor
    category_label: Tensor
    category_score: Tensor


def assign_concepts(iou: Tensor, primary_category: Tensor, num_categories: int, top: int = 5) -> Concepts:
    """The concept of each unit: the label of highest IoU among labels with a primary category (NetDissect-Lite's rule).

    The per-category best labels are reported too (the final label is the best of them). Ties are broken by the lower
    label number (the reference's ``argmax``). A unit with zero IoU everywhere gets the first valid label, score 0.

    Example:
        >>> c = assign_concepts(torch.tensor([[0.0, 0.2, 0.3]]), torch.tensor([-1, 0, 1]), 2)
        >>> c.label.tolist(), c.category.tolist(), c.category_label.tolist()
        ([2], [1], [[1, 2]])
    """
    valid = (primary_category >= 0).to(iou.device)
    masked = torch.where(valid[None, :], iou, torch.full_like(iou, -1.0))
    order = torch.sort(masked, dim=1, descending=True, stable=True).indices[:, :top]
    label = order[:, 0]
    cat_label = torch.zeros(iou.shape[0], num_categories, dtype=torch.long, device=iou.device)
    for g in range(num_categories):
        in_g = (primary_category == g).to(iou.device)
        cat_label[:, g] = torch.where(in_g[None, :], iou, torch.full_like(iou, -1.0)).argmax(dim=1)
    return Concepts(
        label=label,
        score=iou.gather(1, label[:, None]).flatten(),
        category=primary_category.to(iou.device)[label],
        top_labels=order,
        top_scores=iou.gather(1, order),
        category_label=cat_label,
        category_score=iou.gather(1, cat_label),
    )
