import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from robattr.models import (
    FlowerResNet,
    MnistCNN,
    SwitchableReLU,
    TorchvisionClassifier,
    create_model,
    softplus_surrogate,
)
from robattr.models.flower_resnet import PerImageStandardize


def test_surrogate_shares_parameters_and_restores_relu():
    net = MnistCNN().eval()
    x = torch.rand(2, 1, 28, 28)
    relu_out = net(x)
    with softplus_surrogate(net, beta=1.0):
        soft_out = net(x)
        # the surrogate is the same object: a parameter change shows up in it at once
        with torch.no_grad():
            net.classifier[-1].bias.add_(1.0)
        torch.testing.assert_close(net(x), soft_out + 1.0)
    with torch.no_grad():
        net.classifier[-1].bias.sub_(1.0)
    torch.testing.assert_close(net(x), relu_out)
    assert not torch.allclose(soft_out, relu_out)


def test_surrogate_has_non_zero_second_derivative():
    """The reason for the swap: d/dx of a ReLU net's input gradient is zero almost everywhere."""
    net = nn.Sequential(nn.Linear(4, 8), SwitchableReLU(), nn.Linear(8, 1))
    x = torch.rand(3, 4, requires_grad=True)

    def second_order(model):
        (g,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)
        (h,) = torch.autograd.grad(g.pow(2).sum(), x)
        return h

    assert second_order(net).abs().max() == 0
    with softplus_surrogate(net):
        assert second_order(net).abs().max() > 0


def test_leaky_softplus_matches_its_definition():
    act = SwitchableReLU(0.1)
    z = torch.linspace(-5, 5, 11)
    torch.testing.assert_close(act(z), F.leaky_relu(z, 0.1))
    act.surrogate_beta = 1.0
    torch.testing.assert_close(act(z), 0.1 * z + 0.9 * F.softplus(z))


def test_flower_resnet_standardises_each_image_inside_the_model():
    net = FlowerResNet().eval()
    x = torch.rand(2, 3, 128, 128)
    assert net(x).shape == (2, 17)
    z = PerImageStandardize()(x)
    torch.testing.assert_close(z.flatten(1).mean(1), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.flatten(1).std(1, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)
    # the black image (RAR's IG baseline) standardises to zero
    assert PerImageStandardize()(torch.zeros(1, 3, 8, 8)).abs().max() == 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_torchvision_weights_load_from_a_local_file(tmp_path):
    reference = torchvision.models.resnet18(num_classes=7).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    net = TorchvisionClassifier("resnet18", num_classes=7, weights_path=str(path)).eval()
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(net(x), reference((x - mean) / std))
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"^Expected `weights_path` to be an existing file, but got '.*missing.pth'$"):
        TorchvisionClassifier("resnet18", weights_path=str(tmp_path / "missing.pth"))
    with pytest.raises(
        ValueError,
        match=r"^Expected `name` to be one of \['flower_resnet', 'mnist_cnn', 'resnet18', "
        r"'resnet34', 'resnet50', 'vgg16'\], but got 'lenet'$",
    ):
        create_model("lenet")
    with pytest.raises(ValueError, match=r"^Expected `beta` to be a positive float, but got 0$"):
        with softplus_surrogate(MnistCNN(), beta=0):
            pass
    with pytest.raises(
        ValueError,
        match=r"^Expected `model` to contain SwitchableReLU activations \(call robattr.models.make_switchable first\)"
        r", but got none in Linear$",
    ):
        with softplus_surrogate(nn.Linear(2, 2)):
            pass
