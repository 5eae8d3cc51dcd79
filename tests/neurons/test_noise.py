"""Random-noise corruption: reproducible draws, both storage modes, robust units keep their labels."""

from __future__ import annotations

import re

import pytest
import torch

from robattr.neurons import NoiseCorruption, run_noise
from robattr.neurons.storage import jpeg_roundtrip

ROBUST = (0, 2, 3, 4, 5)


def test_small_noise_leaves_the_robust_units_alone(planted, probing_set, dissection, clean_result, tmp_path):
    metrics = run_noise(
        planted,
        probing_set,
        dissection,
        NoiseCorruption(sigma=0.005, seed=0),
        str(tmp_path),
        clean=clean_result,
        write=False,
    )
    corrupted = probing_set.redirect(str(tmp_path / "poisoned"))
    assert corrupted.num_overridden == len(probing_set) and metrics["noise/poisoned_fraction"] == 1.0
    after = dissection(planted, corrupted)
    for unit in ROBUST:
        assert after.label_name(unit) == clean_result.label_name(unit)
    assert metrics["noise/changed/all"] == float((after.label != clean_result.label).float().mean())
    assert metrics["noise/accuracy_clean"] == pytest.approx(metrics["noise/accuracy_corrupted"], abs=0.02)


def test_zero_noise_lossless_changes_nothing_and_jpeg_storage_does(small_set, tmp_path):
    lossless = NoiseCorruption(sigma=0.0, storage="lossless")(small_set, str(tmp_path / "l"))
    jpeg = NoiseCorruption(sigma=0.0, storage="jpeg")(small_set, str(tmp_path / "j"))
    clean_img = small_set.load_image(0)
    assert torch.equal(lossless.dataset(small_set).load_image(0), clean_img)
    stored = jpeg.dataset(small_set)
    assert stored.image_path(0).endswith(".png.jpg")
    again = stored.load_image(0)
    assert not torch.equal(again, clean_img)  # 8-bit truncation + JPEG alter even a zero perturbation
    assert torch.equal(again, jpeg_roundtrip(clean_img))


def test_draws_do_not_depend_on_batch_size_and_follow_the_fraction(small_set, tmp_path):
    a = NoiseCorruption(sigma=0.1, fraction=0.5, seed=3, batch_size=64)(small_set, str(tmp_path / "a"))
    b = NoiseCorruption(sigma=0.1, fraction=0.5, seed=3, batch_size=5)(small_set, str(tmp_path / "b"))
    assert a.indices == b.indices and 10 < len(a.indices) < 54
    i = a.indices[0]
    assert torch.equal(a.dataset(small_set).load_image(i), b.dataset(small_set).load_image(i))
    c = NoiseCorruption(sigma=0.1, fraction=0.5, seed=4)(small_set, str(tmp_path / "c"))
    assert c.indices != a.indices


@pytest.mark.parametrize("kind", ["gaussian", "uniform", "bernoulli"])
def test_noise_kinds_have_their_law(kind):
    x = torch.full((2, 3, 32, 32), 0.5)
    delta = NoiseCorruption(kind, sigma=0.1).perturb(x, [0, 1]) - x
    if kind == "gaussian":
        assert delta.std() == pytest.approx(0.1, rel=0.1)
    elif kind == "uniform":
        assert delta.abs().max() <= 0.1 + 1e-6 and delta.std() == pytest.approx(0.1 / 3**0.5, rel=0.1)
    else:
        assert torch.allclose(delta.abs(), torch.full_like(delta, 0.1))
    assert not torch.equal(delta[0], delta[1])


def test_bad_arguments_fail_with_a_clear_message():
    with pytest.raises(ValueError, match=re.escape("Expected `sigma` to be a non-negative float, but got -0.1")):
        NoiseCorruption(sigma=-0.1)
    with pytest.raises(
        ValueError, match=re.escape("Expected `kind` to be one of ['gaussian', 'uniform', 'bernoulli'], but got 'pink'")
    ):
        NoiseCorruption("pink")
    with pytest.raises(
        ValueError, match=re.escape("Expected `storage` to be one of ['lossless', 'jpeg'], but got 'png'")
    ):
        NoiseCorruption(storage="png")
