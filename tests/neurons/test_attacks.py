"""The crafted attacks flip the fragile planted unit with under 10 % of the images poisoned, never the robust ones."""

from __future__ import annotations

import re

import pytest
import torch

from robattr.neurons import ConceptAttack, ExemplarAttack, UnitAttack, activation_shift_loss, run_attack


@pytest.fixture(scope="module")
def fragile_attack(planted, probing_set, dissection, clean_result, tmp_path_factory):
    out = tmp_path_factory.mktemp("attack")
    metrics = run_attack(
        planted,
        probing_set,
        dissection,
        ConceptAttack(unit=1, target="green"),
        str(out),
        clean=clean_result,
        write=False,
    )
    return metrics, probing_set.redirect(str(out / "poisoned"))


def test_targeted_attack_flips_the_fragile_unit_with_under_10_percent_poisoned(fragile_attack):
    metrics, _ = fragile_attack
    assert metrics["attack/source_label"] == "red" and metrics["attack/new_label"] == "green"
    assert metrics["attack/success"] is True
    assert 0 < metrics["attack/poisoned_fraction"] < 0.10
    assert metrics["attack/iou_target_after"] > 0.04 > metrics["attack/iou_target_before"]
    assert metrics["attack/other_units_changed"] == 0.0  # the robust red unit (and the rest) keep their labels


def test_only_images_with_the_source_or_target_concept_are_perturbed_within_eps(fragile_attack, probing_set):
    _, corrupted = fragile_attack
    red, green = probing_set.label_number("red"), probing_set.label_number("green")
    expected = {
        i
        for i in range(len(probing_set))
        if bool(((probing_set.load_planes(i) == red) | (probing_set.load_planes(i) == green)).any())
    }
    poisoned = {i for i in range(len(probing_set)) if corrupted.image_path(i) != probing_set.image_path(i)}
    assert poisoned == expected
    for i in sorted(poisoned)[:5]:
        adv, x = corrupted.load_image(i), probing_set.load_image(i)
        assert (adv - x).abs().max() <= 4 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
        assert (adv - x).abs().max() > 0


def test_the_robust_unit_resists_the_same_attack(planted, probing_set, dissection, clean_result, tmp_path):
    metrics = run_attack(
        planted,
        probing_set,
        dissection,
        ConceptAttack(unit=0, target="green"),
        str(tmp_path),
        clean=clean_result,
        write=False,
    )
    assert metrics["attack/new_label"] == "red" and metrics["attack/success"] is False
    assert metrics["attack/iou_source_after"] > 0.04


def test_untargeted_and_unit_to_unit_variants(planted, probing_set, dissection, clean_result, tmp_path):
    untargeted = run_attack(
        planted, probing_set, dissection, ConceptAttack(unit=1), str(tmp_path / "u"), clean=clean_result, write=False
    )
    assert untargeted["attack/success"] is True and untargeted["attack/new_label"] != "red"
    assert untargeted["attack/poisoned_fraction"] < 0.10  # only images with red
    to_unit = run_attack(
        planted,
        probing_set,
        dissection,
        UnitAttack(unit=1, target_unit=3),
        str(tmp_path / "t"),
        clean=clean_result,
        write=False,
    )
    assert to_unit["attack/new_label"] == "green" and to_unit["attack/label_of_target_unit_taken"] is True


def test_exemplar_attack_swaps_the_top_exemplars(planted, probing_set, dissection, clean_result, tmp_path):
    attack = ExemplarAttack(unit=1, target_unit=3, n_images=10, k=10, eps=16 / 255)
    metrics = run_attack(planted, probing_set, dissection, attack, str(tmp_path), clean=clean_result, write=False)
    assert metrics["attack/poisoned_images"] <= 20
    assert metrics["exemplars/overlap_with_clean"] == 0.0 and metrics["exemplars/overlap_with_target"] == 1.0


def test_loss_terms_sum_to_the_batch_loss():
    g = torch.Generator().manual_seed(0)
    acts, s, t = (
        torch.rand(3, 4, 4, generator=g),
        (torch.rand(3, 8, 8, generator=g) > 0.7).float(),
        (torch.rand(3, 8, 8, generator=g) > 0.8).float(),
    )
    up = torch.nn.functional.interpolate(acts[:, None], size=(8, 8), mode="bilinear", align_corners=False)[:, 0]
    batch = (up * s).sum() / (s.sum() + 1e-8) - (up * t).sum() / (t.sum() + 1e-8)
    torch.testing.assert_close(activation_shift_loss(acts, s, t).sum(), batch)


def test_bad_arguments_fail_with_a_clear_message(clean_result, probing_set):
    with pytest.raises(ValueError, match=re.escape("Expected `eps` to be a non-negative float, but got -0.1")):
        ConceptAttack(unit=1, target="green", eps=-0.1)
    with pytest.raises(
        ValueError,
        match=re.escape("Expected `target_unit` to be a non-negative integer other than `unit` (1), but got 1"),
    ):
        UnitAttack(unit=1, target_unit=1)
    with pytest.raises(ValueError, match=re.escape("Expected `unit` to be in [0, 5], but got 9")):
        ConceptAttack(unit=9, target="green").setup(clean_result, probing_set)
    with pytest.raises(
        ValueError, match=re.escape("Expected `target` to differ from the clean label of unit 1 ('red'), but got 'red'")
    ):
        ConceptAttack(unit=1, target="red").setup(clean_result, probing_set)
    message = (
        "Expected the label name 'mauve' to name exactly one label in categories "
        "['color', 'object', 'part', 'scene', 'texture'], but found none"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        ConceptAttack(unit=1, target="mauve").setup(clean_result, probing_set)
