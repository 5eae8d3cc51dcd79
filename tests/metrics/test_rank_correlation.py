"""Tests of robattr/metrics/functional/rank_correlation.py and robattr/metrics/rank_correlation.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from robattr.metrics import KendallTau, SpearmanRho
from robattr.metrics.functional import kendall_tau, spearman
from robattr.metrics.functional.rank_correlation import _inversions
from tests.helpers.testers import check_metric_class, whole


def _scipy(fn, clean: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input
        values = [fn(a.flatten().numpy(), b.flatten().numpy()).statistic for a, b in zip(clean, perturbed)]
    return torch.tensor(values, dtype=torch.float64)


def ref_kendall(clean: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    return _scipy(stats.kendalltau, clean, perturbed)  # tau-b, scipy's default


def ref_spearman(clean: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    return _scipy(stats.spearmanr, clean, perturbed)


def _inputs(kind: str, n: int = 12, h: int = 9, w: int = 11, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(n, h, w, generator=g)
    perturbed = clean + 0.4 * torch.rand(n, h, w, generator=g)
    if kind == "mnist":  # most clean pixels exactly zero, perturbed map dense
        clean = clean * (torch.rand(n, h, w, generator=g) > 0.75)
    elif kind == "ties":  # few distinct values in both maps
        clean = torch.randint(0, 4, (n, h, w), generator=g).float()
        perturbed = torch.randint(0, 3, (n, h, w), generator=g).float()
    elif kind == "reversed":
        perturbed = -clean
    return clean, perturbed


@pytest.mark.parametrize("kind", ["float", "mnist", "ties", "reversed"])
def test_against_scipy(kind: str) -> None:
    clean, perturbed = _inputs(kind)
    torch.testing.assert_close(kendall_tau(clean, perturbed, reduction="none").double(), ref_kendall(clean, perturbed))
    torch.testing.assert_close(spearman(clean, perturbed, reduction="none").double(), ref_spearman(clean, perturbed))
    assert kendall_tau(clean, perturbed).item() == pytest.approx(ref_kendall(clean, perturbed).mean().item(), abs=1e-6)


def test_against_scipy_mnist_size_and_one_large_map() -> None:
    clean, perturbed = _inputs("mnist", n=4, h=28, w=28, seed=1)
    torch.testing.assert_close(kendall_tau(clean, perturbed, reduction="none").double(), ref_kendall(clean, perturbed))
    clean, perturbed = _inputs("mnist", n=1, h=160, w=150, seed=2)  # D = 24000: int32 ranks, 15-bit radix
    torch.testing.assert_close(kendall_tau(clean, perturbed, reduction="none").double(), ref_kendall(clean, perturbed))
    torch.testing.assert_close(spearman(clean, perturbed, reduction="none").double(), ref_spearman(clean, perturbed))


def test_inversions_against_loop() -> None:
    g = torch.Generator().manual_seed(3)
    for d in (1, 2, 3, 17, 64, 100):
        ranks = torch.randint(0, d, (5, d), generator=g)
        expected = [sum(int(r[i] > r[j]) for i in range(d) for j in range(i + 1, d)) for r in ranks.tolist()]
        assert _inversions(ranks, max(1, (d - 1).bit_length())).tolist() == expected


def test_constant_map_is_nan_like_scipy() -> None:
    clean, perturbed = _inputs("float", n=3)
    clean[1] = 0.5
    tau, rho = kendall_tau(clean, perturbed, reduction="none"), spearman(clean, perturbed, reduction="none")
    assert torch.isnan(tau[1]) and torch.isnan(rho[1]) and not torch.isnan(tau[[0, 2]]).any()
    assert np.isnan(ref_kendall(clean, perturbed)[1].item())


def test_identity_and_dtype() -> None:
    clean, _ = _inputs("mnist")
    assert kendall_tau(clean, clean).item() == pytest.approx(1.0)
    assert spearman(clean.double(), clean.double()).dtype == torch.float64


def test_errors() -> None:
    a = torch.rand(2, 5, 5)
    with pytest.raises(
        ValueError,
        match=whole("Expected `clean` and `perturbed` to have the same shape, but got (2, 5, 5) and (2, 25)"),
    ):
        kendall_tau(a, a.flatten(1))
    with pytest.raises(ValueError, match=whole("Expected `reduction` to be one of ['mean', 'none'], but got 'max'")):
        spearman(a, a, reduction="max")  # type: ignore[arg-type]


@pytest.mark.parametrize("with_valid", [False, True])
@pytest.mark.parametrize(
    ("make_metric", "reference"),
    [
        (KendallTau, lambda a, b: ref_kendall(a, b).mean()),
        (SpearmanRho, lambda a, b: ref_spearman(a, b).mean()),
    ],
)
def test_classes_accumulate_like_reference(make_metric, reference, with_valid: bool) -> None:  # noqa: ANN001
    clean, perturbed = _inputs("mnist", n=9)
    valid = torch.tensor([True, False, True, True, True, False, True, True, True]) if with_valid else None
    metric = make_metric()
    check_metric_class(metric, reference, (clean, perturbed), valid)
    assert metric.higher_is_better is True


def test_torch_sort_path_matches_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA path sorts with ``torch.sort`` instead of numpy: check it on CPU."""
    from robattr.metrics.functional import _utils

    monkeypatch.setattr(_utils, "_NUMPY_SORTABLE", ())
    monkeypatch.setattr(_utils, "_PACKABLE", ())
    clean, perturbed = _inputs("mnist")
    torch.testing.assert_close(kendall_tau(clean, perturbed, reduction="none").double(), ref_kendall(clean, perturbed))
    torch.testing.assert_close(spearman(clean, perturbed, reduction="none").double(), ref_spearman(clean, perturbed))


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_signed_values_and_both_zeros_against_scipy(
    dtype: torch.dtype, packed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The packed float32 sort keys order negative values, -0.0 == +0.0 and the float32 extremes like the floats."""
    from robattr.metrics.functional import _utils

    if not packed:
        monkeypatch.setattr(_utils, "_PACKABLE", ())
    g = torch.Generator().manual_seed(5)
    values = torch.tensor([-3e38, -2.0, -1e-30, -0.0, 0.0, 1e-30, 0.5, 3e38], dtype=torch.float64)
    if dtype == torch.float16:
        values = torch.tensor([-6e4, -2.0, -1e-3, -0.0, 0.0, 1e-3, 0.5, 6e4], dtype=torch.float64)
    clean = values[torch.randint(0, 8, (6, 9, 10), generator=g)].to(dtype)
    perturbed = values[torch.randint(0, 8, (6, 9, 10), generator=g)].to(dtype)
    tol = {"rtol": 1e-3, "atol": 1e-3} if dtype == torch.float16 else {}  # scores come in the maps' dtype
    want_tau, want_rho = (
        ref_kendall(clean.double(), perturbed.double()),
        ref_spearman(clean.double(), perturbed.double()),
    )
    torch.testing.assert_close(kendall_tau(clean, perturbed, reduction="none").double(), want_tau, **tol)
    torch.testing.assert_close(spearman(clean, perturbed, reduction="none").double(), want_rho, **tol)
