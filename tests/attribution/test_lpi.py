"""LPI: k-means, offline estimation, save / load, online cluster assignment."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robattr.attribution import LocalPathIntegration, kmeans
from tests.attribution.conftest import whole


def test_kmeans_recovers_separated_blobs():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(40, 2) for c in centers])
    found, labels = kmeans(x, 3, generator=torch.Generator().manual_seed(1))
    order = torch.cdist(centers, found).argmin(1)
    torch.testing.assert_close(found[order], centers, atol=0.1, rtol=0)
    assert all(len(set(labels[i * 40 : (i + 1) * 40].tolist())) == 1 for i in range(3))


def test_kmeans_bad_arguments():
    with pytest.raises(ValueError, match=whole("Expected `n_clusters` to be an integer in [1, 4], but got 5")):
        kmeans(torch.rand(4, 2), 5)
    with pytest.raises(ValueError, match=whole("Expected `n_init` to be a positive integer, but got 0")):
        kmeans(torch.rand(4, 2), 2, n_init=0)


def model_and_data() -> tuple[nn.Module, torch.Tensor]:
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    return model, torch.rand(60, 3, 2, 2)


@pytest.mark.parametrize("n_clusters", [1, 2])
def test_prototypes_are_training_images_and_densities_sum_to_one(n_clusters):
    model, data = model_and_data()
    lpi = LocalPathIntegration(n_prototypes=4, n_points=2, n_clusters=n_clusters).fit(model, data)
    assert lpi.prototypes.shape == (n_clusters, 4, 3, 2, 2)
    torch.testing.assert_close(lpi.density.sum(1), torch.ones(n_clusters))
    index = lpi._state["indices"]
    torch.testing.assert_close(lpi.prototypes.flatten(0, 1), data[index.flatten()])


def test_saved_prototypes_reload_to_the_same_maps(tmp_path):
    model, data = model_and_data()
    path = str(tmp_path / "lpi" / "prototypes.pt")
    fitted = LocalPathIntegration(n_prototypes=5, n_points=3, n_clusters=2, prototypes_path=path).fit(
        model, [(data[:25], 0), (data[25:], 0)]
    )
    reloaded = LocalPathIntegration(n_prototypes=5, n_points=3, n_clusters=2, prototypes_path=path)
    assert reloaded.is_fitted
    x, y = torch.rand(6, 3, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.manual_seed(5)
    a = fitted(model, x, y)
    torch.manual_seed(5)
    b = reloaded(model, x, y)
    torch.testing.assert_close(a, b)
    assert a.abs().sum() > 0


def test_inputs_use_the_prototypes_of_their_cluster():
    model, data = model_and_data()
    lpi = LocalPathIntegration(n_prototypes=3, n_clusters=2).fit(model, data)
    x = torch.rand(8, 3, 2, 2)
    clusters = lpi.clusters(model, x)
    refs = lpi.references(model, x, torch.zeros(8, dtype=torch.long))
    torch.testing.assert_close(refs, lpi.prototypes[clusters])
    weights = lpi.reference_weights(model, x, None, refs)
    torch.testing.assert_close(weights, lpi.density[clusters])


def test_vanilla_lpi_is_the_density_weighted_path_integral():
    """On a linear model the gradient is constant: A = W_t * sum_s rho_s (x - x'_s)."""
    model, data = model_and_data()
    lpi = LocalPathIntegration(n_prototypes=4, n_points=2).fit(model, data)
    x = torch.rand(2, 3, 2, 2)
    attr = lpi(model, x, torch.tensor([1, 2]))
    rho = lpi.density[0].view(4, 1, 1, 1)
    w = model[1].weight.detach()[[1, 2]].view(2, 3, 2, 2)
    expected = w * (rho * (x.unsqueeze(1) - lpi.prototypes[0])).sum(1)
    torch.testing.assert_close(attr, expected)


def test_errors():
    model, data = model_and_data()
    with pytest.raises(
        RuntimeError,
        match=whole("LocalPathIntegration has no prototypes: call `fit(model, data)` or `load(path)` first"),
    ):
        LocalPathIntegration()(model, data[:2], 0)
    with pytest.raises(
        ValueError,
        match=whole(
            "Expected every cluster to hold at least `n_prototypes`=20 training samples, but cluster 0 holds 10"
        ),
    ):
        LocalPathIntegration().fit(model, data[:10])
    with pytest.raises(
        ValueError,
        match=whole("Expected 0 <= `alpha_low` < `alpha_high` <= 1, but got alpha_low=0.5 and alpha_high=0.5"),
    ):
        LocalPathIntegration(alpha_low=0.5, alpha_high=0.5)


def test_shuffled_data_is_detected():
    model, data = model_and_data()

    class Shuffled:
        def __iter__(self):
            yield data[torch.randperm(len(data))]

    with pytest.raises(
        RuntimeError,
        match=whole(
            "Expected `data` to yield the same images in the same order on each pass, but it changed (a shuffled"
            " loader?)"
        ),
    ):
        LocalPathIntegration(n_prototypes=4).fit(model, Shuffled())


def test_load_checks_the_sizes(tmp_path):
    model, data = model_and_data()
    path = str(tmp_path / "p.pt")
    LocalPathIntegration(n_prototypes=4, prototypes_path=path).fit(model, data)
    with pytest.raises(
        ValueError,
        match=whole(
            f"Expected prototypes for `n_clusters`=1 and `n_prototypes`=5 in {path!r}, but got densities of shape"
            " (1, 4)"
        ),
    ):
        LocalPathIntegration(n_prototypes=5, prototypes_path=path)
