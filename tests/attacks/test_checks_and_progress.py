"""Every attack rejects what it cannot handle (with the argument and the value named) and reports its steps."""

from __future__ import annotations

import re

import pytest
import torch

from robattr.attacks import PGD, AttributionAttack, MapAttack, RandomSignPerturbation
from robattr.attribution import IntegratedGradients, Saliency
from robattr.models import MnistCNN
from robattr.progress import Interrupted, listen


def whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


@pytest.fixture
def data() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = MnistCNN().eval()
    x = torch.rand(3, 1, 28, 28)
    return model, x, model(x).argmax(1)


EPS_RANGE = "Expected `eps` to be a finite number in [0.0, 1.0], but got {}"

BAD_HYPERPARAMETERS = [
    (lambda: PGD(eps=float("nan")), ValueError, EPS_RANGE.format("nan")),
    (lambda: PGD(eps=5.0), ValueError, EPS_RANGE.format("5.0")),
    (lambda: PGD(eps=-0.1), ValueError, EPS_RANGE.format("-0.1")),
    (lambda: PGD(eps="0.3"), TypeError, EPS_RANGE.format("'0.3'")),
    (lambda: PGD(norm="l2", eps=-1.0), ValueError, "Expected `eps` to be a finite number >= 0.0, but got -1.0"),
    (lambda: PGD(step_size=0.0), ValueError, "Expected `step_size` to be a finite number > 0.0, but got 0.0"),
    (
        lambda: PGD(step_size=float("inf")),
        ValueError,
        "Expected `step_size` to be a finite number > 0.0, but got inf",
    ),
    (lambda: PGD(steps=-1), ValueError, "Expected `steps` to be an integer >= 0, but got -1"),
    (lambda: PGD(steps=2.5), TypeError, "Expected `steps` to be an integer >= 0, but got 2.5"),
    (lambda: PGD(restarts=0), ValueError, "Expected `restarts` to be an integer >= 1, but got 0"),
    (
        lambda: PGD(bounds=(1.0, 0.0)),
        ValueError,
        "Expected `bounds` to be (low, high) with low < high, but got (1.0, 0.0)",
    ),
    (
        lambda: PGD(bounds=(0.0,)),
        TypeError,
        "Expected `bounds` to be a pair (low, high) of real numbers, but got (0.0,)",
    ),
    (lambda: PGD(bounds=(0.0, float("nan"))), ValueError, "Expected `bounds[1]` to be a finite number, but got nan"),
    (
        lambda: PGD(eps=0.5, bounds=(0.0, 0.25)),
        ValueError,
        "Expected `eps` to be a finite number in [0.0, 0.25], but got 0.5",
    ),
    (lambda: PGD().scaled(0.0), ValueError, "Expected `factor` to be a finite number in (0.0, 1.0], but got 0.0"),
    (lambda: AttributionAttack(Saliency(), eps=float("nan")), ValueError, EPS_RANGE.format("nan")),
    (lambda: AttributionAttack(Saliency(), eps=2.0), ValueError, EPS_RANGE.format("2.0")),
    (
        lambda: AttributionAttack(Saliency(), step_size=-0.01),
        ValueError,
        "Expected `step_size` to be a finite number > 0.0, but got -0.01",
    ),
    (
        lambda: AttributionAttack(Saliency(), step_size=float("nan")),
        ValueError,
        "Expected `step_size` to be a finite number > 0.0, but got nan",
    ),
    (lambda: AttributionAttack(Saliency(), steps=0), ValueError, "Expected `steps` to be an integer >= 1, but got 0"),
    (
        lambda: AttributionAttack(Saliency(), restarts=0),
        ValueError,
        "Expected `restarts` to be an integer >= 1, but got 0",
    ),
    (
        lambda: AttributionAttack(Saliency(), k_attack=0),
        ValueError,
        "Expected `k_attack` to be an integer >= 1, but got 0",
    ),
    (lambda: AttributionAttack(Saliency(), k_eval=0), ValueError, "Expected `k_eval` to be an integer >= 1, but got 0"),
    (
        lambda: AttributionAttack(Saliency(), radius=-1),
        ValueError,
        "Expected `radius` to be an integer >= 0, but got -1",
    ),
    (
        lambda: AttributionAttack(Saliency(), surrogate_beta=0.0),
        ValueError,
        "Expected `surrogate_beta` to be a finite number > 0.0, but got 0.0",
    ),
    (
        lambda: AttributionAttack(Saliency(), measure="pearson"),
        ValueError,
        "Expected `measure` to be one of ['kendall', 'spearman', 'topk', 'mass_center'], but got 'pearson'",
    ),
    (
        lambda: AttributionAttack("ig"),
        TypeError,
        "Expected `attribution` to be a robattr Attribution or None, but got str",
    ),
    (lambda: RandomSignPerturbation(eps=float("nan")), ValueError, EPS_RANGE.format("nan")),
    (lambda: RandomSignPerturbation(eps=1.5), ValueError, EPS_RANGE.format("1.5")),
    (
        lambda: RandomSignPerturbation(per_channel="yes"),
        TypeError,
        "Expected `per_channel` to be a bool, but got 'yes'",
    ),
    (
        lambda: AttributionAttack(Saliency()).with_attribution(None).with_attribution(object()),
        TypeError,
        "Expected `attribution` to be a robattr Attribution or None, but got object",
    ),
]


@pytest.mark.parametrize("make,error,message", BAD_HYPERPARAMETERS, ids=lambda v: "" if callable(v) else None)
def test_bad_hyperparameters_fail_at_construction(make, error, message):
    with pytest.raises(error, match=whole(message)):
        make()


ATTACKS = {
    "pgd": lambda: PGD(eps=0.1, step_size=0.05, steps=2),
    "topk": lambda: AttributionAttack(Saliency(), "topk", eps=0.1, step_size=0.05, steps=2, k_attack=20, k_eval=20),
    "random_sign": lambda: RandomSignPerturbation(Saliency(), eps=0.1),
}
OUT_OF_BOUNDS = "Expected `x` to lie in [0.0, 1.0] (the attack's pixel bounds), but got values in [{}, {}]"


@pytest.mark.parametrize("name", ATTACKS)
def test_inputs_outside_the_pixel_bounds_are_rejected(name, data):
    model, x, y = data
    attack = ATTACKS[name]()
    scaled = x * 255
    lo, hi = float(scaled.min()), float(scaled.max())
    with pytest.raises(ValueError, match=whole(OUT_OF_BOUNDS.format(lo, hi))):
        attack(model, scaled, y)
    shifted = x - 0.5
    with pytest.raises(ValueError, match=whole(OUT_OF_BOUNDS.format(float(shifted.min()), float(shifted.max())))):
        attack(model, shifted, y)
    nan = x.clone()
    nan[1, 0, 3, 3] = float("nan")
    with pytest.raises(
        ValueError, match=whole("Expected `x` to hold only finite values, but got 1 NaN or infinite of 2352 entries")
    ):
        attack(model, nan, y)
    with pytest.raises(ValueError, match=whole("Expected `y` of shape (3,) (one label per image), but got (2,)")):
        attack(model, x, y[:2])
    with pytest.raises(TypeError, match=whole("Expected `x` to be a torch.Tensor, but got list")):
        attack(model, x.tolist(), y)


def test_map_attacks_want_images_and_an_attribution(data):
    model, x, y = data
    with pytest.raises(
        ValueError, match=whole("Expected `x` to be a 4-D tensor of shape (N, C, H, W), but got shape (3, 784)")
    ):
        RandomSignPerturbation(Saliency())(model, x.flatten(1), y)
    with pytest.raises(
        ValueError, match=whole("Expected an `attribution` (constructor or `with_attribution`), but got None")
    ):
        RandomSignPerturbation()(model, x, y)


@pytest.mark.parametrize("name", ATTACKS)
def test_other_pixel_bounds(name, data):
    """bounds=(0, 255) for 8-bit images: the same attack, scaled."""
    model, x, y = data
    attack = ATTACKS[name]()
    attack_255 = type(attack)(**{**_init_args(attack), "eps": attack.eps * 255, "bounds": (0, 255)})
    model_255 = torch.nn.Sequential(_Scale(1 / 255), model)
    torch.manual_seed(5)
    out = attack_255(model_255, x * 255, y)
    x_adv = out if isinstance(out, torch.Tensor) else out.x_adv
    assert x_adv.min() >= 0 and x_adv.max() <= 255
    assert (x_adv - x * 255).abs().max() <= attack.eps * 255 + 1e-3


class _Scale(torch.nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def _init_args(attack) -> dict:
    if isinstance(attack, PGD):
        return {"step_size": attack.step_size * 255, "steps": attack.steps}
    if isinstance(attack, AttributionAttack):
        return {
            "attribution": attack.attribution,
            "objective": attack.objective,
            "step_size": attack.step_size * 255,
            "steps": attack.steps,
            "k_attack": attack.k_attack,
            "k_eval": attack.k_eval,
        }
    return {"attribution": attack.attribution}


def test_map_attacks_share_one_base_and_with_attribution():
    for attack in (AttributionAttack(Saliency()), RandomSignPerturbation(Saliency())):
        assert isinstance(attack, MapAttack)
        other = attack.with_attribution(IntegratedGradients(n_steps=2))
        assert type(other) is type(attack) and isinstance(other.attribution, IntegratedGradients)
        assert isinstance(attack.attribution, Saliency)  # the original is left alone
    with pytest.raises(
        ValueError,
        match=whole("Expected `attribution` to support create_graph for the 'topk' objective, but got Dummy"),
    ):

        class Dummy(Saliency):
            supports_create_graph = False

        AttributionAttack(Saliency()).with_attribution(Dummy())


@pytest.mark.parametrize(
    "name,task,total",
    [("pgd", "pgd", 4), ("topk", "attack:topk", 2), ("random_sign", "attack:random_sign", 1)],
)
def test_each_step_is_reported(name, task, total, data):
    model, x, y = data
    attack = ATTACKS[name]()
    if isinstance(attack, PGD):
        attack = PGD(eps=0.1, step_size=0.05, steps=2, restarts=2)  # steps are counted across restarts
    seen = []
    with listen(lambda *event: seen.append(event)):
        attack(model, x, y)
    assert seen == [(task, i + 1, total) for i in range(total)]


def test_random_walk_reports_its_batched_restarts_once_per_step(data):
    model, x, y = data
    attack = AttributionAttack(Saliency(), "random", eps=0.1, step_size=0.05, steps=3, restarts=2, k_eval=20)
    seen = []
    with listen(lambda *event: seen.append(event)):
        result = attack(model, x, y)
    assert seen == [("attack:random", i + 1, 3) for i in range(3)]
    assert result.x_adv.shape == x.shape


def test_a_listener_interrupts_between_steps(data):
    model, x, y = data

    def stop(task, step, total):
        if step == 2:
            raise Interrupted(f"{task} stopped at {step}/{total}")

    for attack in (PGD(eps=0.1, step_size=0.05, steps=5), ATTACKS["topk"]()):
        with listen(stop), pytest.raises(Interrupted, match="stopped at 2/"):
            attack(model, x, y)
