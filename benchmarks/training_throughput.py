"""Training throughput per mode (natural, PGD, IG-NORM, IG-SUM-NORM), against natural training and each mode's floor.

One optimizer step of each robattr training module (``compute_loss`` + ``backward`` + ``Adam.step``, no Trainer
overhead) is timed on the MNIST CNN (batch 50) and on the Flower ResNet (batch 16, 128x128). Each mode is compared in
the same run with two references:

- natural training of the same model and batch (how much a robust mode costs), and
- its **arithmetic floor**, built from two primitives measured on the same model:

  - ``fb(B)``: one forward + backward of a batch of ``B`` images (the unit of natural training and of a PGD step);
  - ``dd(B)``: forward, input gradient with ``create_graph=True`` and a backward through it (double backprop) on
    ``B`` images: the unit of an IG point that somebody differentiates.

  ===========  =================================================================================
  mode         floor (S inner steps, m training IG points, a = approx factor, N = batch)
  ===========  =================================================================================
  natural      ``fb(N)``
  PGD          ``S fb(N) + fb(N)``
  IG-NORM      ``S dd(N m / a) + fb(N) + dd(N m)``
  IG-SUM-NORM  ``S [fb(N) + dd(N m / a)] + fb(N) + dd(N m)``
  ===========  =================================================================================

  The floor batches every path point of every image into one tensor (the best batch shape); robattr's modules do
  the same through :class:`robattr.attribution.IntegratedGradients`, so ``ours / floor`` close to 1 means nothing
  sits above the method's own arithmetic.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/training_throughput.py --quick      # CPU, quickstart sizes, < 1 minute
    python benchmarks/training_throughput.py --device cuda                  # RAR's sizes
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robattr.attacks import PGD
from robattr.models import FlowerResNet, MnistCNN
from robattr.training import IGNormTraining, IGSumNormTraining, NaturalTraining, PGDTraining


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Seconds per call of ``fn`` (one warm-up call, then the mean of ``repeats``)."""
    fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def forward_backward(net: nn.Module, x: Tensor, y: Tensor) -> None:
    """``fb(B)``: forward + backward to the parameters."""
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()


def double_backward(net: nn.Module, x: Tensor, y: Tensor) -> None:
    """``dd(B)``: input gradient with ``create_graph`` and a backward through it (to the parameters and input)."""
    net.zero_grad(set_to_none=True)
    xr = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(net(xr), y, reduction="sum"), xr, create_graph=True)
    grad.abs().sum().backward()


def build(mode: str, net: nn.Module, setting: dict) -> NaturalTraining:
    """The robattr training module of ``mode`` with the setting's attack and IG sizes."""
    attack = PGD(eps=setting["eps"], step_size=setting["step"], steps=setting["steps"], keep_best=False)
    if mode == "natural":
        return NaturalTraining(net)
    if mode == "pgd":
        return PGDTraining(net, attack)
    ig = {"ig_steps": setting["m"], "approx_factor": setting["a"]}
    if mode == "ig_norm":
        return IGNormTraining(net, attack, lam=1.0, **ig)
    return IGSumNormTraining(net, attack, beta=0.1, **ig)


def floor_seconds(mode: str, setting: dict, fb: Callable[[int], float], dd: Callable[[int], float], n: int) -> float:
    """The floor of one optimizer step of ``mode`` from the measured primitives (see the module docstring)."""
    s, m, a = setting["steps"], setting["m"], setting["a"]
    if mode == "natural":
        return fb(n)
    if mode == "pgd":
        return (s + 1) * fb(n)
    if mode == "ig_norm":
        return s * dd(n * m // a) + fb(n) + dd(n * m)
    return s * (fb(n) + dd(n * m // a)) + fb(n) + dd(n * m)


def bench_model(
    name: str,
    make_net: Callable[[], nn.Module],
    shape: tuple[int, ...],
    n: int,
    setting: dict,
    device: torch.device,
    repeats: int,
) -> list[dict]:
    """Rows for the four modes on one model."""
    torch.manual_seed(0)
    net = make_net().to(device)
    cache: dict[tuple[str, int], float] = {}

    def primitive(kind: str, b: int) -> float:
        if (kind, b) not in cache:
            x = torch.rand(b, *shape, device=device)
            y = torch.randint(0, 10, (b,), device=device)
            fn = forward_backward if kind == "fb" else double_backward
            cache[(kind, b)] = timed(lambda: fn(net, x, y), device, repeats)
        return cache[(kind, b)]

    x = torch.rand(n, *shape, device=device)
    y = torch.randint(0, 10, (n,), device=device)
    rows, natural_s = [], None
    for mode in ("natural", "pgd", "ig_norm", "ig_sum_norm"):
        module = build(mode, net, setting).to(device).train()
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)

        def step(module: nn.Module = module, optimizer: torch.optim.Optimizer = optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            module.compute_loss(x, y)[0].backward()
            optimizer.step()

        seconds = timed(step, device, repeats)
        natural_s = seconds if mode == "natural" else natural_s
        floor = floor_seconds(mode, setting, lambda b: primitive("fb", b), lambda b: primitive("dd", b), n)
        rows.append(
            {
                "benchmark": "training",
                "model": name,
                "mode": mode,
                "batch": n,
                "setting": f"S={setting['steps']} m={setting['m']} a={setting['a']}",
                "img_per_s": n / seconds,
                "step_s": seconds,
                "floor_s": floor,
                "ours_over_floor_speed": floor / seconds,
                "cost_vs_natural": seconds / natural_s,
            }
        )
    return rows


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """All rows; ``quick``: the CPU quickstart's sizes and one repeat (well under a minute on one CPU thread)."""
    dev = torch.device(device)
    if quick:
        mnist = {"eps": 0.3, "step": 0.1, "steps": 5, "m": 4, "a": 2}
        flower = {"eps": 8 / 255, "step": 2 / 255, "steps": 2, "m": 4, "a": 2}
        rows = bench_model("mnist_cnn", MnistCNN, (1, 28, 28), 50, mnist, dev, repeats=1)
        return rows + bench_model("flower_resnet 32x32", FlowerResNet, (3, 32, 32), 4, flower, dev, repeats=1)
    mnist = {"eps": 0.3, "step": 0.01, "steps": 40, "m": 50, "a": 5}  # RAR's MNIST config
    flower = {"eps": 8 / 255, "step": 2 / 255, "steps": 7, "m": 50, "a": 10}  # RAR's Flower config
    repeats = 5 if dev.type == "cuda" else 1
    rows = bench_model("mnist_cnn", MnistCNN, (1, 28, 28), 50, mnist, dev, repeats)
    return rows + bench_model("flower_resnet 128x128", FlowerResNet, (3, 128, 128), 16, flower, dev, repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (CPU smoke run)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    rows = run(args.quick, args.device)
    for r in rows:
        print(
            f"{r['model']:22s} {r['mode']:12s} {r['img_per_s']:9.1f} img/s"
            f"  floor ratio {r['ours_over_floor_speed']:.2f}  x natural {r['cost_vs_natural']:.1f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
