"""Attribution-attack throughput: one batched attack vs the same attack run one image at a time.

Both runs do identical work per image (same attack, same steps); the ratio is what batching buys. Usage::

    python benchmarks/attack_throughput.py                  # MNIST CNN, IG 10 steps, top-k attack, CPU
    python benchmarks/attack_throughput.py --device cuda --n 256
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch

from robattr.attacks import AttributionAttack, RandomSignPerturbation
from robattr.attribution import IntegratedGradients, Saliency
from robattr.models import MnistCNN


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=32, help="images")
    parser.add_argument("--steps", type=int, default=5, help="attack iterations")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = MnistCNN().to(device).eval()
    x = torch.rand(args.n, 1, 28, 28, device=device)
    y = model(x).argmax(1)
    attacks = {
        "top-k, IG 10 steps": AttributionAttack(
            IntegratedGradients(n_steps=10), "topk", eps=0.3, step_size=0.01, steps=args.steps, k_attack=100
        ),
        "top-k, saliency": AttributionAttack(
            Saliency(), "topk", eps=0.3, step_size=0.01, steps=args.steps, k_attack=100
        ),
        "random-sign walk, IG 10 steps": AttributionAttack(
            IntegratedGradients(n_steps=10), "random", eps=0.3, step_size=0.01, steps=args.steps
        ),
        "one-shot random sign, IG 10 steps": RandomSignPerturbation(IntegratedGradients(n_steps=10), eps=0.3),
    }
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    print(
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads {gpu}; "
        f"torch {torch.__version__}; {datetime.date.today()}; {args.n} MNIST images, {args.steps} iterations"
    )
    print("| attack | batched img/s | one-at-a-time img/s | speed-up |")
    print("|---|---|---|---|")
    for name, attack in attacks.items():
        attack(model, x[:2], y[:2])  # warm-up
        t_batch = timed(lambda: attack(model, x, y), device)
        t_loop = timed(lambda: [attack(model, x[i : i + 1], y[i : i + 1]) for i in range(args.n)], device)
        print(f"| {name} | {args.n / t_batch:.1f} | {args.n / t_loop:.1f} | {t_loop / t_batch:.1f}x |")


if __name__ == "__main__":
    main()
