import pytest
import torch

from robattr.attacks import AttributionAttack, RandomSignPerturbation
from robattr.attribution import Attribution, IntegratedGradients, Saliency
from robattr.metrics.functional import center_of_mass, topk_intersection
from robattr.models import FlowerResNet, MnistCNN
from tests.attacks._reference_attack import ReferenceAttributionAttack
from tests.attribution._reference_ig import reference_ig


def model_and_data(n=6):
    torch.manual_seed(0)
    model = FlowerResNet(num_classes=4).eval()
    x = torch.rand(n, 3, 16, 16)
    return model, x, model(x).argmax(1)


@pytest.mark.parametrize("objective", ["topk", "lens_topk", "mass_center", "target", "random"])
@pytest.mark.parametrize("method", [Saliency(), IntegratedGradients(n_steps=4)], ids=["saliency", "ig"])
def test_keeps_label_and_eps_ball(objective, method):
    model, x, y = model_and_data()
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[:4, :4] = True
    attack = AttributionAttack(
        method, objective, eps=8 / 255, step_size=2 / 255, steps=4, restarts=2, k_attack=40, k_eval=40, measure="topk"
    )
    result = attack(model, x, y, target_mask=mask if objective == "target" else None)
    assert (result.x_adv - x).abs().max() <= 8 / 255 + 1e-6
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    assert torch.equal(model(result.x_adv).argmax(1), y)
    # failed attacks return the clean image and map; successful ones a strictly lower measure
    failed = ~result.success
    assert torch.equal(result.x_adv[failed], x[failed]) and torch.equal(
        result.adv_map[failed], result.clean_map[failed]
    )
    assert bool((result.measure[result.success] < 1).all())


def test_topk_attack_lowers_the_topk_intersection():
    model, x, y = model_and_data(8)
    attack = AttributionAttack(
        Saliency(), "topk", eps=8 / 255, step_size=1 / 255, steps=10, k_attack=40, k_eval=40, measure="topk"
    )
    result = attack(model, x, y)
    assert result.success.float().mean() > 0.5
    torch.testing.assert_close(
        topk_intersection(result.clean_map, result.adv_map, 40, reduction="none")[result.success],
        result.measure[result.success],
    )


def test_degenerate_topk_objective_is_detected_and_not_moved():
    """A zero-baseline IG map of an image with fewer non-zero pixels than k_attack lies inside the mask."""
    model = MnistCNN().eval()
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, 10:14, 10:14] = 1.0  # 16 non-zero pixels < k_attack
    x[1] = torch.rand(1, 28, 28)  # every pixel non-zero
    y = model(x).argmax(1)
    attack = AttributionAttack(
        IntegratedGradients(n_steps=4), "topk", eps=0.3, step_size=0.05, steps=2, k_attack=200, measure="topk"
    )
    result = attack(model, x, y)
    assert result.degenerate.tolist() == [True, False]
    assert torch.equal(result.x_adv[0], x[0])


def test_random_sign_is_a_signed_eps_step():
    model, x, y = model_and_data()
    x = x.clamp(0.1, 0.9)
    result = RandomSignPerturbation(Saliency(), eps=0.05, k_eval=40, measure="topk")(model, x, y)
    d = (result.x_adv - x)[result.success]
    torch.testing.assert_close(d.abs(), torch.full_like(d, 0.05))
    shared = RandomSignPerturbation(Saliency(), eps=0.05, per_channel=False, k_eval=40, measure="topk")(model, x, y)
    d = (shared.x_adv - x)[shared.success]
    assert bool((d.sign() == d[:, :1].sign()).all())


def test_center_of_mass_is_the_weighted_mean_position():
    """The mass-center objective uses the metrics' centre of mass (robattr.metrics.functional.center_of_mass)."""
    maps = torch.zeros(1, 5, 5)
    maps[0, 1, 3] = 1.0
    maps[0, 3, 1] = 3.0
    torch.testing.assert_close(center_of_mass(maps), torch.tensor([[2.5, 1.5]]))


def test_bad_arguments():
    with pytest.raises(
        ValueError,
        match=r"^Expected `objective` to be one of \['topk', 'lens_topk', 'mass_center', 'target', 'random'\], "
        r"but got 'bottomk'$",
    ):
        AttributionAttack(Saliency(), "bottomk")
    with pytest.raises(ValueError, match=r"^Expected `eps` to be a finite number in \[0.0, 1.0\], but got -1$"):
        AttributionAttack(Saliency(), eps=-1)
    with pytest.raises(
        ValueError,
        match=r"^Expected `target_mask` of shape \(N, H, W\) or \(H, W\) for the 'target' objective, but got None$",
    ):
        model, x, y = model_and_data(2)
        AttributionAttack(Saliency(), "target", steps=1)(model, x, y)

    class NoGraph(Saliency):
        supports_create_graph = False

    with pytest.raises(
        ValueError, match=r"^Expected `attribution` to support create_graph for the 'topk' objective, but got NoGraph$"
    ):
        AttributionAttack(NoGraph(), "topk")


class _ReferenceIG(Attribution):
    """IG through its former private loop (tests/attribution/_reference_ig.py)."""

    supports_create_graph = True

    def __init__(self, n_steps: int) -> None:
        super().__init__()
        self.n_steps = n_steps

    def _attribute(self, model, inputs, target, *, create_graph):
        return reference_ig(model, inputs, target, n_steps=self.n_steps, create_graph=create_graph)


def _digits(n: int = 6) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = MnistCNN().eval()
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 6:22, 9:19] = torch.rand(n, 1, 16, 10)  # a digit-like blob on a black background
    return model, x, model(x).argmax(1)


@pytest.mark.parametrize(
    "objective,restarts", [("topk", 1), ("topk", 2), ("lens_topk", 1), ("target", 1), ("random", 1)]
)
def test_same_iterates_and_maps_as_before_the_refactor(objective, restarts):
    """A seeded run gives bit for bit what the former attack with the former IG loop gave.

    The former attack is tests/attacks/_reference_attack.py, the former IG loop tests/attribution/_reference_ig.py.

    Gradient objectives are deterministic: the former second restart repeated the first, so one run gives the same.
    """
    model, x, y = _digits()
    mask = torch.zeros(28, 28, dtype=torch.bool)
    mask[6:12, 9:14] = True
    kwargs = dict(eps=0.1, step_size=0.05, steps=4, restarts=restarts, k_attack=60, k_eval=60, measure="kendall")
    torch.manual_seed(1)
    new = AttributionAttack(IntegratedGradients(n_steps=5), objective, **kwargs)(model, x, y, target_mask=mask)
    torch.manual_seed(1)
    old = ReferenceAttributionAttack(_ReferenceIG(5), objective, **kwargs)(model, x, y, target_mask=mask)
    assert new.success.any()
    for field in ("x_adv", "clean_map", "adv_map", "success", "degenerate", "measure"):
        assert torch.equal(getattr(new, field), getattr(old, field)), field


def test_random_sign_same_as_before_the_refactor():
    model, x, y = _digits()
    torch.manual_seed(3)
    new = RandomSignPerturbation(IntegratedGradients(n_steps=5), eps=0.3)(model, x, y)
    torch.manual_seed(3)
    sign = torch.randint(0, 2, x.shape).float() * 2 - 1
    x_adv = (x + 0.3 * sign).clamp(0.0, 1.0)
    keeps = model(x_adv).argmax(1) == y
    assert torch.equal(new.success, keeps)
    assert torch.equal(new.x_adv, torch.where(keeps.view(-1, 1, 1, 1), x_adv, x))
