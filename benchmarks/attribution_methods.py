"""Throughput of every attribution method at 224x224, with its forward+backward pass count, vs captum.

A ResNet-18 with random weights (1000 classes) explains a small batch. IG-SQ costs what IG-SG costs (the same
samples, squared), and the GradientShap adapter what captum's GradientShap costs (the EG row), so neither is timed.
For each method the table gives images per second, the forward+backward passes it needs per image, the time per
(pass x image), and captum's images per second for the same computation where captum has the method. The time of
one plain forward+backward of the batch, divided by its size, is the floor "per pass-image" any method can reach.
Usage::

    python benchmarks/attribution_methods.py                          # CPU, batch 4, about 4 minutes on 2 cores
    python benchmarks/attribution_methods.py --quick --json rows.json # 64x64, 2 references x 2 points, seconds
    python benchmarks/attribution_methods.py --device cuda --batch 16 --repeats 3
    python benchmarks/attribution_methods.py --write-readme           # (re)write the section of benchmarks/README.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import torch
from captum.attr import GradientShap as CaptumGradientShap
from captum.attr import IntegratedGradients as CaptumIG
from captum.attr import LayerAttribution, LayerGradCam, NoiseTunnel
from captum.attr import Saliency as CaptumSaliency

from robattr.attribution import (
    LRP,
    AdversarialGradientIntegration,
    DeepLift,
    ExpectedGradients,
    FullGrad,
    GradCAM,
    IGSmoothGrad,
    IGUniform,
    InputXGradient,
    IntegratedGradients,
    LocalPathIntegration,
    Recalibrated,
    Saliency,
    SmoothGrad,
    default_cam_layer,
)
from robattr.models import TorchvisionClassifier

SECTION = "## Attribution methods"
INTRO = (
    "`benchmarks/attribution_methods.py` times every method of `robattr.attribution` (and captum where it has the "
    "method) on a ResNet-18 with random weights at 224x224, and counts the forward+backward passes each needs per "
    "image."
)
NOTES = (
    "Reading it: the multi-sample methods (SmoothGrad, the IG family, EG, AGI, LPI) put `internal_batch_size` path "
    "points through the network per pass, so their cost per pass-image should sit at the plain forward+backward of a "
    "batch of that size; the re-calibrated estimator (`valid_ip`) only adds elementwise work on the gradients. "
    "Single-pass methods at batch 4 are the most exposed to the noise of a shared CPU. The DeepLift and LRP adapters "
    "pay captum's hooks plus one extra single-image forward (`captum_compatible` counts the calls of each activation); "
    "FullGrad takes the gradient of every biased layer. CUDA was not measured: no GPU was lent to this session "
    "(`--device cuda`)."
)


def timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: bool = False) -> float:
    """Seconds per call of ``fn`` (after one untimed call when ``warmup``)."""
    if warmup:
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def measure(
    device: torch.device, batch: int, repeats: int, chunk: int, size: int = 224, r: int = 10, k: int = 5
) -> tuple[list[dict], dict[int, float]]:
    """Rows per method and the plain forward+backward time per image for the batch and for a chunk of points.

    ``r`` references (classes for AGI, samples for SmoothGrad) x ``k`` points per image, ``size`` x ``size`` images.
    """
    torch.manual_seed(0)
    model = TorchvisionClassifier("resnet18", num_classes=1000).to(device).eval()
    model.requires_grad_(False)
    x = torch.rand(batch, 3, size, size, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    pool = torch.rand(16, 3, size, size)

    def forward_backward(n: int) -> None:
        xi = torch.rand(n, 3, size, size, device=device, requires_grad=True)
        torch.autograd.grad(model(xi)[:, 0].sum(), xi)

    # one warm-up of both batch shapes the methods use (the batch, and a chunk of path points), then no per-method
    # warm-up: the kernels are shared, and the whole run stays within a few minutes on a CPU
    per_pass = {n: timed(lambda n=n: forward_backward(n), device, repeats, warmup=True) / n for n in (batch, chunk)}
    eg = ExpectedGradients(r, k, internal_batch_size=chunk).fit(None, pool)
    lpi = LocalPathIntegration(n_prototypes=4, n_points=k, internal_batch_size=chunk, n_init=1)
    lpi.fit(model, pool.to(device))
    layer = model.get_submodule(default_cam_layer(model))
    refs = eg.references(model, x, y)
    captum_refs = refs.flatten(0, 1)
    methods: list[tuple[str, Callable[[], object], int, Callable[[], object] | None]] = [
        (
            "Input gradient",
            lambda: Saliency()(model, x, y),
            1,
            lambda: CaptumSaliency(model).attribute(x, target=y, abs=False),
        ),
        (
            "Grad-CAM",
            lambda: GradCAM(align_corners=False)(model, x, y),
            1,
            lambda: LayerAttribution.interpolate(
                LayerGradCam(model, layer).attribute(x, target=y, relu_attributions=True), (size, size), "bilinear"
            ),
        ),
        (
            f"SmoothGrad ({r})",
            lambda: SmoothGrad(r, internal_batch_size=chunk)(model, x, y),
            r,
            lambda: NoiseTunnel(CaptumSaliency(model)).attribute(
                x, nt_type="smoothgrad", nt_samples=r, nt_samples_batch_size=chunk, stdevs=0.15, target=y, abs=False
            ),
        ),
        ("FullGrad", lambda: FullGrad()(model, x, y), 1, None),
        (
            f"IG ({k} points)",
            lambda: IntegratedGradients(k, internal_batch_size=chunk)(model, x, y),
            k,
            lambda: CaptumIG(model).attribute(
                x, target=y, n_steps=k, method="riemann_right", internal_batch_size=chunk
            ),
        ),
        (f"IG-Uniform ({r} x {k})", lambda: IGUniform(r, k, internal_batch_size=chunk)(model, x, y), r * k, None),
        (
            "IG-Uniform, valid_ip",
            lambda: Recalibrated(IGUniform(r, k, internal_batch_size=chunk))(model, x, y),
            r * k,
            None,
        ),
        (f"IG-SG ({r} x {k})", lambda: IGSmoothGrad(r, k, internal_batch_size=chunk)(model, x, y), r * k, None),
        (
            f"EG ({r} x {k})",
            lambda: eg(model, x, y, references=refs),
            r * k,
            lambda: CaptumGradientShap(model).attribute(
                x, baselines=captum_refs, n_samples=r * k, stdevs=0.0, target=y
            ),
        ),
        (
            f"AGI ({r} classes x {k} steps)",
            lambda: AdversarialGradientIntegration(r, k, internal_batch_size=chunk)(model, x, y),
            2 * r * k,
            None,
        ),
        (f"LPI (4 prototypes x {k})", lambda: lpi(model, x, y), 4 * k, None),
        ("InputXGradient (captum adapter)", lambda: InputXGradient()(model, x, y), 1, None),
        ("DeepLift (captum adapter)", lambda: DeepLift()(model, x, y), 1, None),
        ("LRP (captum adapter)", lambda: LRP()(model, x, y), 1, None),
    ]
    rows = []
    for name, ours, passes, captum in methods:
        n = max(repeats, 3 if passes == 1 else 1)  # single-pass methods are cheap: average a few runs
        t = timed(ours, device, n)
        t_captum = timed(captum, device, n) if captum is not None else None
        rows.append(
            {
                "method": name,
                "passes": passes,
                "img_s": batch / t,
                "ms_per_pass_img": 1000 * t / (batch * passes),
                "captum_img_s": None if t_captum is None else batch / t_captum,
            }
        )
    return rows, per_pass


def table(
    rows: list[dict], per_pass: dict[int, float], device: torch.device, batch: int, repeats: int, chunk: int
) -> str:
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    floors = " and ".join(f"{1000 * t:.1f} ms per image in a batch of {n}" for n, t in per_pass.items())
    lines = [
        f"Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads{gpu}; torch {torch.__version__}; {datetime.date.today()}; load average "
        f"{os.getloadavg()[0]:.1f} at the end (other jobs shared the CPU: single timings vary up to 2x between runs, "
        f"compare within a run). ResNet-18 (random weights, 1000 classes), 224x224, batch {batch}, internal_batch_size "
        f"{chunk}, mean of {repeats} run(s) (at least 3 for single-pass methods) after one shared warm-up. A plain "
        f"forward+backward costs {floors} (the floor of the last column). captum runs the same computation where it "
        "has the method (EG: GradientShap, one sample per EG reference x point, from the same references, no noise).",
        "",
        "| method | fwd+bwd passes / image | images / s | ms per pass-image | captum images / s |",
        "|---|---|---|---|---|",
    ]
    lines[0] = textwrap.fill(lines[0], 118)
    for r in rows:
        captum = "-" if r["captum_img_s"] is None else f"{r['captum_img_s']:.2f}"
        lines.append(f"| {r['method']} | {r['passes']} | {r['img_s']:.2f} | {r['ms_per_pass_img']:.1f} | {captum} |")
    return "\n".join(lines)


def write_section(text: str, path: Path) -> None:
    """Replace (or append) the "Attribution methods" section of ``path``, leaving the other sections alone."""
    command = "```\npython benchmarks/attribution_methods.py --write-readme\n```"
    body = f"{SECTION}\n\n{textwrap.fill(INTRO, 118)}\n\n{command}\n\n{text}\n\n{textwrap.fill(NOTES, 118)}\n"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _m: body + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + body
    path.write_text(new)


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Every method's row (``quick``: 64x64 images, batch 2, 2 references x 2 points: seconds on one CPU core)."""
    dev = torch.device(device)
    if quick:
        rows, per_pass = measure(dev, batch=2, repeats=1, chunk=8, size=64, r=2, k=2)
    else:
        rows, per_pass = measure(dev, batch=16 if dev.type == "cuda" else 4, repeats=1, chunk=40)
    floor = {f"floor_ms_per_img_batch_{n}": 1000 * t for n, t in per_pass.items()}
    return [{**row, **floor} for row in rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64x64, batch 2, 2 x 2 samples (seconds on a CPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=40, help="internal_batch_size: points per forward pass")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--write-readme", action="store_true", help="write the table into benchmarks/README.md")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.quick:
        args.batch, args.repeats, args.chunk = 2, 1, 8
        rows, per_pass = measure(device, args.batch, args.repeats, args.chunk, size=64, r=2, k=2)
    else:
        rows, per_pass = measure(device, args.batch, args.repeats, args.chunk)
    text = table(rows, per_pass, device, args.batch, args.repeats, args.chunk)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    if args.write_readme and not args.quick:
        write_section(text, Path(__file__).with_name("README.md"))


if __name__ == "__main__":
    main()
