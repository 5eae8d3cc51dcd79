"""Integrated Gradients throughput: robattr's batched IG vs captum's IG vs the arithmetic limit.

The limit of any m-step IG is m forward+backward passes of the batch: we time one forward+backward of a batch of
``batch`` images and multiply by ``m`` (the same FLOPs, in the best batch shape). Ratios are taken in one run, on
the same machine and inputs. Usage::

    python benchmarks/ig_throughput.py                       # MNIST CNN and ResNet-18 at 224x224, CPU
    python benchmarks/ig_throughput.py --quick --json ig.json  # tiny sizes, seconds
    python benchmarks/ig_throughput.py --device cuda
"""

from __future__ import annotations

import argparse
import datetime
import json
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


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """IG on the MNIST CNN and on ResNet-18 (``quick``: batch 8 and 2 at 64x64, few steps: seconds on a CPU)."""
    dev = torch.device(device)
    gpu = dev.type == "cuda"
    repeats = 1 if quick else 3
    torch.manual_seed(0)
    size = 64 if quick else 224
    mnist = (8, 10, 40) if quick else (50, 50, 2500)  # batch, IG steps, internal_batch_size
    resnet = (2, 4, 8) if quick else ((64, 50, 1024) if gpu else (8, 20, 80))
    return [
        bench("mnist_cnn 28x28", MnistCNN(), (1, 28, 28), *mnist, dev, repeats),
        bench(
            f"resnet18 {size}x{size}",
            TorchvisionClassifier("resnet18", num_classes=10),
            (3, size, size),
            *resnet,
            dev,
            repeats,
        ),
    ]


def table(rows: list[dict]) -> str:
    """Markdown table of the rows."""
    lines = [
        "| model | batch | steps | chunk | ours img/s | captum img/s | limit img/s | ours / captum speed "
        "| ours / limit speed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['steps']} | {r['chunk']} | {r['ours_img_s']:.1f} | "
            f"{r['captum_img_s']:.1f} | {r['limit_img_s']:.1f} | {r['ours_vs_captum']:.2f}x | "
            f"{r['ours_vs_limit']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds on a CPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = run(args.quick, args.device)
    device = torch.device(args.device)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    cpu = platform.processor() or platform.machine()
    print(f"Machine: {platform.platform()}, {cpu}, {torch.get_num_threads()} threads {gpu}; torch {torch.__version__};")
    print(f"{datetime.date.today()}")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
