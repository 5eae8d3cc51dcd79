"""Integrated Gradients throughput: robattr's batched IG vs captum's IG vs the arithmetic limit.

The limit of any m-step IG is m forward+backward passes of the batch: we time one forward+backward of a batch of
``batch`` images and multiply by ``m`` (the same FLOPs, in the best batch shape). Ratios are taken in one run, on
the same machine and inputs. Usage::

    python benchmarks/ig_throughput.py                       # MNIST CNN and ResNet-18, CPU
    python benchmarks/ig_throughput.py --device cuda --repeats 20
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch
from captum.attr import IntegratedGradients as CaptumIG

from robattr.attribution import IntegratedGradients
from robattr.models import MnistCNN, TorchvisionClassifier


def timed(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def bench(
    name: str,
    model: torch.nn.Module,
    shape: tuple[int, ...],
    batch: int,
    steps: int,
    chunk: int,
    device: torch.device,
    repeats: int,
) -> dict:
    model = model.to(device).eval()
    x = torch.rand(batch, *shape, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def forward_backward():
        xi = x.detach().requires_grad_(True)
        torch.autograd.grad(model(xi).gather(1, y[:, None]).sum(), xi)

    ours = IntegratedGradients(n_steps=steps, internal_batch_size=chunk)
    captum = CaptumIG(model)
    t_limit = timed(forward_backward, device, repeats) * steps
    t_ours = timed(lambda: ours(model, x, y), device, repeats)
    t_captum = timed(
        lambda: captum.attribute(x, target=y, n_steps=steps, method="riemann_right", internal_batch_size=chunk),
        device,
        repeats,
    )
    return {
        "model": name,
        "batch": batch,
        "steps": steps,
        "chunk": chunk,
        "ours_img_s": batch / t_ours,
        "captum_img_s": batch / t_captum,
        "limit_img_s": batch / t_limit,
        "ours_vs_captum": t_captum / t_ours,
        "ours_vs_limit": t_limit / t_ours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resnet-size", type=int, default=224)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = [
        bench("mnist_cnn 28x28", MnistCNN(), (1, 28, 28), 50, 50, 2500, device, args.repeats),
        bench(
            f"resnet18 {args.resnet_size}x{args.resnet_size}",
            TorchvisionClassifier("resnet18", num_classes=10),
            (3, args.resnet_size, args.resnet_size),
            8 if device.type == "cpu" else 64,
            20 if device.type == "cpu" else 50,
            80 if device.type == "cpu" else 1024,
            device,
            args.repeats,
        ),
    ]
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    print(
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads {gpu}; "
        f"torch {torch.__version__}; {datetime.date.today()}"
    )
    print(
        "| model | batch | steps | chunk | ours img/s | captum img/s | limit img/s | ours / captum speed | ours / limit speed |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['batch']} | {r['steps']} | {r['chunk']} | {r['ours_img_s']:.1f} | {r['captum_img_s']:.1f} | "
            f"{r['limit_img_s']:.1f} | {r['ours_vs_captum']:.2f}x | {r['ours_vs_limit']:.2f} |"
        )


if __name__ == "__main__":
    main()
