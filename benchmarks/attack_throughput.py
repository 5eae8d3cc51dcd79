"""Attribution-attack throughput: one attack step against its arithmetic floor, and batched vs one image at a time.

**Step vs floor.** One step of the top-k attack on IG (Ghorbani et al., AAAI 2019) cannot cost less than its two
maps: the IG map of the softplus surrogate built with ``create_graph`` plus the backward of the attack loss through
it (the direction), and the IG map of the real model at the new iterate (the per-step selection). The floor is that
arithmetic written directly in torch (every path point of the batch in one pass, no engine, no checks); the step is
timed inside ``AttributionAttack`` between two of its ``robattr.progress`` reports, so it holds everything a step
does (the step and projection, the label check, the selection measure). ``floor / step`` is the share of a step
spent on the floor (goal: at least 0.8). ``amortised`` divides the whole call by its steps, so it also carries the
per-call work (the clean map, the objective's mask, the selected maps). All ratios come from one run, interleaved;
on a CPU the times are the process's CPU time (robust to other jobs on a shared machine), on a GPU wall time.

**Batched vs one image at a time.** The same attack on ``n`` images at once and in a loop of single images.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/attack_throughput.py --quick            # under 30 s on one CPU core
    python benchmarks/attack_throughput.py --device cuda --json attack.json       # MNIST CNN batch 50, ResNet-18 224
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from robattr.attacks import AttributionAttack, RandomSignPerturbation
from robattr.attribution import IntegratedGradients, Saliency, attribution_map
from robattr.metrics.functional.masks import topk_mask
from robattr.models import MnistCNN, TorchvisionClassifier, softplus_surrogate
from robattr.progress import listen


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> Callable[[], float]:
    """The timer: wall time on a GPU; on a CPU the process's CPU time, so other jobs sharing the cores (a loaded
    machine) do not enter the ratios (run with ``OMP_NUM_THREADS=1`` for CPU time to equal one core's wall time)."""
    return time.perf_counter if device.type == "cuda" else time.process_time


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds of one call of ``fn`` by :func:`clock` (GPU work included)."""
    now = clock(device)
    _sync(device)
    start = now()
    fn()
    _sync(device)
    return now() - start


def floor_direction(model: nn.Module, x: Tensor, y: Tensor, mask: Tensor, m: int) -> Tensor:
    """The direction's arithmetic: surrogate IG (zero baseline, right Riemann rule) with create_graph, its backward."""
    alphas = torch.arange(1, m + 1, device=x.device, dtype=x.dtype).div(m).view(-1, *([1] * x.dim()))
    xr = x.detach().requires_grad_(True)
    with softplus_surrogate(model):
        points = (alphas * xr.unsqueeze(0)).flatten(0, 1)
        score = model(points).gather(1, y.repeat(m).view(-1, 1)).sum()
        (grads,) = torch.autograd.grad(score, points, create_graph=True)
        attr = xr * grads.view(m, *x.shape).mean(0)
        maps = attribution_map(attr, normalize=True)
        (grad,) = torch.autograd.grad(-(maps * mask).sum(), xr)
    return grad.sign()


def floor_selection(model: nn.Module, x: Tensor, y: Tensor, m: int) -> Tensor:
    """The selection's arithmetic: the real model's IG map at the iterate, no graph kept."""
    alphas = torch.arange(1, m + 1, device=x.device, dtype=x.dtype).div(m).view(-1, *([1] * x.dim()))
    points = (alphas * x.unsqueeze(0)).flatten(0, 1).requires_grad_(True)
    (grads,) = torch.autograd.grad(model(points).gather(1, y.repeat(m).view(-1, 1)).sum(), points)
    return attribution_map(x * grads.view(m, *x.shape).mean(0), normalize=True)


def step_vs_floor(
    name: str,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    ig_steps: int,
    k_attack: int,
    steps: int,
    repeats: int,
    objective: str = "topk",
    restarts: int = 1,
) -> dict:
    """One row: median step time inside the attack, median floor time, their ratio, and the amortised ratio.

    The floor of a ``topk`` step is one direction and one selection map per image, whatever ``restarts`` (the
    objective is deterministic: a restart repeats the same walk); the random walk has no direction to compute, and
    its ``restarts`` walks are distinct, so its floor is one selection map per image and restart.
    """
    device = x.device
    attack = AttributionAttack(
        IntegratedGradients(n_steps=ig_steps), objective, eps=0.3, step_size=0.01, steps=steps, k_attack=k_attack,
        k_eval=k_attack, measure="kendall", restarts=restarts,
    )  # fmt: skip
    walks = restarts if objective == "random" else 1
    xs, ys = x.repeat(walks, *([1] * (x.dim() - 1))), y.repeat(walks)
    clean = attack.maps(model, x, y).detach()
    mask = topk_mask(clean, k_attack, validate_args=False).to(x.dtype)
    stamps: list[float] = []

    def stamp(task: str, step: int, total: int) -> None:
        _sync(device)
        stamps.append(clock(device)())

    step_times, call_times, floor_dir, floor_sel = [], [], [], []
    for _ in range(repeats):  # interleaved, so a load change hits both sides alike
        if objective == "random":
            floor_dir.append(0.0)
        else:
            floor_dir.append(timed(lambda: floor_direction(model, x, y, mask, ig_steps), device))
        floor_sel.append(timed(lambda: floor_selection(model, xs, ys, ig_steps), device))
        stamps.clear()
        with listen(stamp):
            call_times.append(timed(lambda: attack(model, x, y), device) / steps)
        step_times += [b - a for a, b in zip(stamps, stamps[1:])]
    floor = statistics.median(floor_dir) + statistics.median(floor_sel)
    step = statistics.median(step_times) if step_times else float("nan")  # no progress reports: amortised only
    return {
        "benchmark": "step_vs_floor",
        "model": name,
        "objective": objective,
        "restarts": restarts,
        "batch": x.shape[0],
        "ig_steps": ig_steps,
        "attack_steps": steps,
        "step_s": step,
        "floor_s": floor,
        "floor_direction_s": statistics.median(floor_dir),
        "floor_selection_s": statistics.median(floor_sel),
        "floor_over_step": floor / step,
        "amortised_floor_over_step": floor / statistics.median(call_times),
    }


def batched_vs_per_image(model: nn.Module, x: Tensor, y: Tensor, ig_steps: int, steps: int) -> list[dict]:
    """The same attacks on the whole batch at once and on one image at a time."""
    device = x.device
    attacks = {
        f"top-k, IG {ig_steps} steps": AttributionAttack(
            IntegratedGradients(n_steps=ig_steps), "topk", eps=0.3, step_size=0.01, steps=steps, k_attack=100
        ),
        "top-k, saliency": AttributionAttack(Saliency(), "topk", eps=0.3, step_size=0.01, steps=steps, k_attack=100),
        f"random-sign walk, IG {ig_steps} steps": AttributionAttack(
            IntegratedGradients(n_steps=ig_steps), "random", eps=0.3, step_size=0.01, steps=steps
        ),
        f"one-shot random sign, IG {ig_steps} steps": RandomSignPerturbation(
            IntegratedGradients(n_steps=ig_steps), eps=0.3
        ),
    }
    rows, n = [], x.shape[0]
    for name, attack in attacks.items():
        attack(model, x[:2], y[:2])  # warm-up
        t_batch = timed(lambda a=attack: a(model, x, y), device)
        t_loop = timed(lambda a=attack: [a(model, x[i : i + 1], y[i : i + 1]) for i in range(n)], device)
        rows.append(
            {
                "benchmark": "batched_vs_per_image",
                "attack": name,
                "batch": n,
                "attack_steps": steps,
                "batched_img_s": n / t_batch,
                "per_image_img_s": n / t_loop,
                "speedup": t_loop / t_batch,
            }
        )
    return rows


def confident(model: nn.Module, last: nn.Linear | None = None) -> nn.Module:
    """The model with class 0 favoured by a large bias on its last linear layer (``last``, default the last one).

    No iterate changes the label, so every step computes its selection map, as the floor does; every gradient still
    runs through the whole network.
    """
    last = last or [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.bias[0] += 1e4
    return model


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Every row of this benchmark (``quick``: tiny sizes, under 30 s on one CPU core).

    Full: the MNIST CNN at batch 50 with IG 20 steps (the quick evaluation's attack), its restarts, and ResNet-18 at
    224x224 (batch 2 on CPU, 16 on a GPU); batched vs one at a time on 32 MNIST images (64 on a GPU).
    """
    dev = torch.device(device)
    gpu = dev.type == "cuda"
    torch.manual_seed(0)
    mnist = MnistCNN().to(dev).eval()
    stable = confident(MnistCNN().to(dev).eval(), None)
    batch, ig_steps, attack_steps, repeats = (8, 5, 3, 2) if quick else (50, 20, 5, 3)
    x = torch.rand(batch, 1, 28, 28, device=dev)
    y = stable(x).argmax(1)
    rows = [step_vs_floor("mnist_cnn 28x28", stable, x, y, ig_steps, 100, attack_steps, repeats)]
    for objective in ("topk", "random"):  # restarts 3: the Flower-17 and full MNIST configs
        rows.append(step_vs_floor("mnist_cnn 28x28", stable, x, y, ig_steps, 100, attack_steps, 1, objective, 3))
    resnet = confident(TorchvisionClassifier("resnet18", num_classes=10).to(dev).eval(), None)
    xr = torch.rand(1 if quick else (16 if gpu else 2), 3, 224, 224, device=dev)
    yr = resnet(xr).argmax(1)
    rows.append(step_vs_floor("resnet18 224x224", resnet, xr, yr, 2 if quick else 20, 1000, 3, 1 if quick else 2))
    n = 4 if quick else (64 if gpu else 32)
    xb = torch.rand(n, 1, 28, 28, device=dev)
    rows += batched_vs_per_image(mnist, xb, mnist(xb).argmax(1), 5 if quick else 10, 2 if quick else 5)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown tables of the rows."""
    lines = [
        "| model | objective | restarts | batch | IG steps | step s | floor s (direction + selection) | floor / step "
        "| amortised |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["benchmark"] == "step_vs_floor":
            lines.append(
                f"| {r['model']} | {r['objective']} | {r['restarts']} | {r['batch']} | {r['ig_steps']} | "
                f"{r['step_s']:.3f} | {r['floor_s']:.3f} "
                f"({r['floor_direction_s']:.3f} + {r['floor_selection_s']:.3f}) | {r['floor_over_step']:.2f} | "
                f"{r['amortised_floor_over_step']:.2f} |"
            )
    lines += ["", "| attack | batch | batched img/s | one-at-a-time img/s | speed-up |", "|---|---|---|---|---|"]
    for r in rows:
        if r["benchmark"] == "batched_vs_per_image":
            lines.append(
                f"| {r['attack']} | {r['batch']} | {r['batched_img_s']:.1f} | {r['per_image_img_s']:.1f} | "
                f"{r['speedup']:.1f}x |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (under 30 s on one CPU core)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = run(args.quick, args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
