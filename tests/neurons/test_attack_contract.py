"""One contract for the crafted attacks (prepare -> poison -> outcome) and errors for what a user can get wrong."""

from __future__ import annotations

import math
import re

import pytest

from robattr.neurons import ConceptAttack, ExemplarAttack, NetworkDissection, ProbingAttack, UnitAttack, run_attack


def test_every_attack_prepares_then_poisons_then_reports(planted, small_set, dissection, tmp_path):
    clean = dissection(planted, small_set)
    for attack in (
        ConceptAttack(unit=1, target="green", steps=2),
        UnitAttack(unit=1, target_unit=3, steps=2),
        ExemplarAttack(unit=1, target_unit=3, n_images=2, k=3, steps=2),
    ):
        assert not attack.prepared
        attack.prepare(planted, "pool", small_set, clean)
        assert attack.prepared
        poisoning = attack.poison(planted, "pool", small_set, str(tmp_path / type(attack).__name__))
        corrupted = dissection(planted, poisoning.dataset(small_set))
        extra = attack.outcome(planted, "pool", small_set, poisoning.dataset(small_set), clean, corrupted)
        assert isinstance(extra, dict)
    assert ConceptAttack(unit=1).target_label is None


def test_the_job_takes_any_probing_attack(planted, small_set, dissection, tmp_path):
    class Suppress(ConceptAttack):
        """A user's variant: the job needs no change to run it."""

        def outcome(self, *args, **kwargs):
            return {"attack/custom": 1.0}

    metrics = run_attack(planted, small_set, dissection, Suppress(unit=1, steps=1), str(tmp_path), write=False)
    assert metrics["attack/kind"] == "Suppress" and metrics["attack/custom"] == 1.0


def test_poison_before_prepare_is_an_error(planted, small_set, tmp_path):
    message = "Expected UnitAttack.prepare(model, layer, dataset, clean) to run before poison(), but it did not"
    with pytest.raises(RuntimeError, match=f"^{re.escape(message)}$"):
        UnitAttack(unit=1, target_unit=3).poison(planted, "pool", small_set, str(tmp_path))
    assert not (tmp_path / "images").exists()


def test_prepare_against_a_dissection_of_another_layer(planted, small_set):
    clean = NetworkDissection("conv", progress=False)(planted, small_set)
    message = "Expected `clean` to be a dissection of layer 'pool', but got one of 'conv'"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ConceptAttack(unit=1, target="green").prepare(planted, "pool", small_set, clean)
    with pytest.raises(TypeError, match=re.escape("Expected `clean` to be a DissectionResult, but got dict")):
        UnitAttack(unit=1, target_unit=3).prepare(planted, "pool", small_set, {})


def test_run_attack_rejects_what_is_not_an_attack(planted, small_set, dissection, tmp_path):
    message = "Expected `attack` to be a ConceptAttack, UnitAttack or ExemplarAttack, but got str"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        run_attack(planted, small_set, dissection, "ConceptAttack", str(tmp_path))
    assert issubclass(ExemplarAttack, ProbingAttack)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"eps": math.nan}, ValueError, "Expected `eps` to be a non-negative float, but got nan"),
        ({"eps": math.inf}, ValueError, "Expected `eps` to be a finite number in [0.0, 1.0], but got inf"),
        ({"eps": 8.0}, ValueError, "Expected `eps` to be a finite number in [0.0, 1.0], but got 8.0"),
        ({"eps": "4/255"}, TypeError, "Expected `eps` to be a non-negative float, but got '4/255'"),
        ({"unit": "1"}, TypeError, "Expected `unit` to be a non-negative integer, but got '1'"),
        ({"unit": -1}, ValueError, "Expected `unit` to be a non-negative integer, but got -1"),
        ({"steps": 0}, ValueError, "Expected `steps` to be a positive integer, but got 0"),
        ({"steps": 2.5}, TypeError, "Expected `steps` to be a positive integer, but got 2.5"),
        ({"step_size": math.inf}, ValueError, "Expected `step_size` to be a positive float or None, but got inf"),
        ({"batch_size": True}, TypeError, "Expected `batch_size` to be a positive integer, but got True"),
        ({"target": 2.0}, TypeError, "Expected `target` to be a label name, a label number or None, but got 2.0"),
    ],
)
def test_bad_attack_arguments(kwargs, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        ConceptAttack(**{"unit": 1, **kwargs})


def test_bad_unit_attack_arguments():
    message = "Expected `target_unit` to be a non-negative integer other than `unit` (1), but got 3.0"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        UnitAttack(unit=1, target_unit=3.0)
    with pytest.raises(ValueError, match=r"^Expected `quantile` to be a float in \(0, 1\), but got 1\.0$"):
        ExemplarAttack(unit=1, target_unit=3, quantile=1.0)
    with pytest.raises(ValueError, match=r"^Expected `n_images` to be a positive integer, but got 0$"):
        ExemplarAttack(unit=1, target_unit=3, n_images=0)
