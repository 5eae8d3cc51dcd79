"""Properties shared by every pairwise functional metric: batching, chunking, empty batches, dtypes, reductions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from robattr import metrics as M
from robattr.metrics.functional import (
    _utils,
    center_of_mass_shift,
    kendall_tau,
    lens_kendall_tau,
    lens_precision,
    lens_precision_div,
    lens_recall,
    lens_recall_div,
    lens_spearman,
    spearman,
    topk_div_intersection,
    topk_intersection,
)
from tests.helpers.testers import whole

FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "topk_intersection": lambda a, b, **kw: topk_intersection(a, b, 7, **kw),
    "lens_recall": lambda a, b, **kw: lens_recall(a, b, 7, 1, **kw),
    "lens_precision_flat": lambda a, b, **kw: lens_precision(a, b, 7, 2, True, **kw),
    "topk_div_intersection": lambda a, b, **kw: topk_div_intersection(a, b, 7, 1, **kw),
    "lens_recall_div": lambda a, b, **kw: lens_recall_div(a, b, 7, 1, 40, **kw),
    "lens_precision_div": lambda a, b, **kw: lens_precision_div(a, b, 7, 2, **kw),
    "kendall_tau": lambda a, b, **kw: kendall_tau(a, b, **kw),
    "spearman": lambda a, b, **kw: spearman(a, b, **kw),
    "lens_kendall_tau": lambda a, b, **kw: lens_kendall_tau(a, b, 1, **kw),
    "lens_spearman": lambda a, b, **kw: lens_spearman(a, b, 1, **kw),
    "center_of_mass_shift": lambda a, b, **kw: center_of_mass_shift(a, b, **kw),
}


def _inputs(n: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(n, 10, 12, generator=g) * (torch.rand(n, 10, 12, generator=g) > 0.5)
    return clean, clean.roll(1, 1) + 0.3 * torch.rand(n, 10, 12, generator=g)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_batched_equals_one_by_one_and_chunked(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fn = FUNCTIONS[name]
    clean, perturbed = _inputs()
    batched = fn(clean, perturbed, reduction="none")
    assert batched.shape == (9,) and batched.dtype == torch.float32
    one_by_one = torch.cat([fn(clean[i : i + 1], perturbed[i : i + 1], reduction="none") for i in range(9)])
    torch.testing.assert_close(batched, one_by_one)
    torch.testing.assert_close(fn(clean, perturbed), batched.mean())
    monkeypatch.setattr(_utils, "_CPU_CHUNK_PIXELS", 250)  # chunks of 2 maps, the last one alone
    torch.testing.assert_close(fn(clean, perturbed, reduction="none"), batched)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_empty_batch_and_float64(name: str) -> None:
    fn = FUNCTIONS[name]
    empty = torch.zeros(0, 10, 12)
    assert fn(empty, empty, reduction="none").shape == (0,)
    clean, perturbed = _inputs(3)
    scores = fn(clean.double(), perturbed.double(), reduction="none")
    assert scores.dtype == torch.float64
    torch.testing.assert_close(scores.float(), fn(clean, perturbed, reduction="none"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_non_finite_maps_are_value_errors(name: str, bad: float) -> None:
    clean, perturbed = _inputs(3)
    for which in ("clean", "perturbed"):
        maps = {"clean": clean.clone(), "perturbed": perturbed.clone()}
        maps[which][1, 2, 3] = bad
        message = f"Expected `{which}` to hold only finite values, but got 1 NaN or infinite of 360 entries"
        with pytest.raises(ValueError, match=whole(message)):
            FUNCTIONS[name](maps["clean"], maps["perturbed"])


@pytest.mark.parametrize(
    "metric",
    [
        lambda: M.TopKIntersection(k=5),
        lambda: M.LENSRecall(k=5),
        lambda: M.LENSPrecisionDiv(k=5),
        lambda: M.TopKDivScores(k=5, radii=[1, 2]),
        lambda: M.KendallTau(),
        lambda: M.LENSSpearmanRho(radius=1),
        lambda: M.CenterOfMassShift(),
    ],
)
def test_metric_classes_reject_non_finite_maps_and_keep_their_state(metric) -> None:  # noqa: ANN001
    m = metric()
    clean, perturbed = _inputs(3)
    m.update(clean, perturbed)
    before = m.compute()
    perturbed[0, 0, 0] = float("nan")
    with pytest.raises(
        ValueError,
        match=whole("Expected `perturbed` to hold only finite values, but got 1 NaN or infinite of 360 entries"),
    ):
        m.update(clean, perturbed)
    after = m.compute()  # nothing half-written: the failed batch left the sums as they were
    if isinstance(before, dict):
        assert all(torch.equal(before[k], after[k]) for k in before)
    else:
        assert torch.equal(before, after)
