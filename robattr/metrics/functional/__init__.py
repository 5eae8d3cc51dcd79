"""Functional attribution-robustness metrics: plain functions of clean and perturbed maps ``(N, H, W)``.

One file per metric family, each with private ``_x_per_sample`` / ``_x_update`` / ``_x_compute`` helpers (used by
the :mod:`robattr.metrics` classes) and public functions taking ``reduction="mean" | "none"``:

- :mod:`.masks`: ``topk_mask`` and ``neighbourhood_mask``, the pixel sets the metrics (and attacks) use;
- :mod:`.topk`: top-k intersection, LENS-recall and LENS-precision (Ghorbani et al. 2019; Kamath et al. 2024);
- :mod:`.topk_div`: top-k-div selection (greedy, or the released code's) and its intersection / LENS metrics
  (Kamath et al. 2024), all of them at once from one selection per map with ``topk_div_scores``;
- :mod:`.rank_correlation`: batched Kendall tau-b and Spearman rho;
- :mod:`.lens_rank_correlation`: robattr's own LENS-Kendall / LENS-Spearman variant (max-filtered maps);
- :mod:`.center_of_mass`: centre of mass and its dislocation (Ghorbani et al. 2019);
- :mod:`.diffid`, :mod:`.sensitivity`, :mod:`.sanity`: faithfulness (DiffID, sensitivity-n, cascading-randomisation
  sanity check); the caller runs the model on the inputs these build (the randomised models come from
  :mod:`robattr.models.randomization`).

Ties in every top-k set are broken by value descending, then flat (row-major) index ascending. With
``validate_args`` (the default) NaN or infinite maps are a ``ValueError``: they are errors, not numbers to score;
:func:`~robattr.metrics.functional.masks.degenerate_maps` finds the maps (non-finite or constant) to leave out.
"""

from robattr.metrics.functional.center_of_mass import center_of_mass, center_of_mass_shift
from robattr.metrics.functional.diffid import diffid, diffid_inputs, diffid_keep_masks
from robattr.metrics.functional.lens_rank_correlation import lens_kendall_tau, lens_spearman
from robattr.metrics.functional.masks import degenerate_maps, neighbourhood_mask, topk_mask
from robattr.metrics.functional.rank_correlation import kendall_tau, spearman
from robattr.metrics.functional.sanity import sanity_rank_correlation
from robattr.metrics.functional.sensitivity import sensitivity_n, sensitivity_n_inputs, sensitivity_n_masks
from robattr.metrics.functional.topk import lens_precision, lens_recall, topk_intersection
from robattr.metrics.functional.topk_div import (
    lens_precision_div,
    lens_recall_div,
    topk_div_intersection,
    topk_div_mask,
    topk_div_scores,
)

__all__ = [
    # attribution robustness: top-k family (Ghorbani et al. 2019, Kamath et al. 2024)
    "topk_mask",
    "neighbourhood_mask",
    "degenerate_maps",
    "topk_intersection",
    "lens_recall",
    "lens_precision",
    "topk_div_mask",
    "topk_div_intersection",
    "lens_recall_div",
    "lens_precision_div",
    "topk_div_scores",
    # attribution robustness: rank correlations and centre of mass
    "kendall_tau",
    "spearman",
    "lens_kendall_tau",
    "lens_spearman",
    "center_of_mass",
    "center_of_mass_shift",
    # faithfulness: DiffID, sensitivity-n, sanity check (inputs built here, model run by the caller)
    "diffid_keep_masks",
    "diffid_inputs",
    "diffid",
    "sensitivity_n_masks",
    "sensitivity_n_inputs",
    "sensitivity_n",
    "sanity_rank_correlation",
]
