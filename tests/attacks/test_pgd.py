import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robattr.attacks import PGD
from robattr.models import MnistCNN


@pytest.mark.parametrize("norm,eps,step", [("linf", 0.1, 0.02), ("l2", 1.0, 0.25)])
@pytest.mark.parametrize("random_start", [True, False])
def test_stays_in_ball_and_range_and_raises_loss(norm, eps, step, random_start):
    model = MnistCNN().eval()
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    x_adv = PGD(eps=eps, step_size=step, steps=10, norm=norm, random_start=random_start, restarts=2)(model, x, y)
    d = (x_adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert bool((size <= eps + 1e-5).all())
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        before = F.cross_entropy(model(x), y, reduction="none")
        after = F.cross_entropy(model(x_adv), y, reduction="none")
    if not random_start:  # the start point is a candidate, so the best iterate can never be worse
        assert bool((after >= before - 1e-6).all())
    assert after.mean() > before.mean()


def test_linear_model_reaches_the_closed_form_optimum():
    """For a linear score w.x the L-inf optimum is x + eps * sign(w) (inside [0, 1])."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, -1.0, 2.0, -2.0, 0.5, -0.5], [0.0] * 6]))
    x = torch.full((1, 1, 2, 3), 0.5)

    def loss(m, z, y):
        return m(z)[:, 0]

    x_adv = PGD(eps=0.1, step_size=0.05, steps=5, random_start=False)(model, x, torch.tensor([0]), loss_fn=loss)
    expected = x + 0.1 * torch.tensor([1.0, -1, 1, -1, 1, -1]).view(1, 1, 2, 3)
    torch.testing.assert_close(x_adv, expected)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^Expected `eps` to be a finite number in \[0.0, 1.0\], but got -0.1$"):
        PGD(eps=-0.1)
    with pytest.raises(ValueError, match=r"^Expected `norm` to be one of \['l2', 'linf'\], but got 'l1'$"):
        PGD(norm="l1")
    with pytest.raises(ValueError, match=r"^Expected `restarts` to be an integer >= 1, but got 0$"):
        PGD(restarts=0)
