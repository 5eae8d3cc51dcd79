"""Network Dissection throughput (images/s) and memory as the probing set grows.

A ResNet-18 with random weights (``robattr.models.TorchvisionClassifier``), layer ``net.layer4`` (512 units, 7x7 at
224x224), dissected on the first ``n`` images of a generated Broden-format set (224x224 images, 112x112 masks in the
full mode), for each ``n`` in ``sizes``. Reported per size: wall time of the whole dissection (the exact-threshold
passes + the IoU pass), images per second (``n / time``), image-passes per second (``n x passes / time``), the
number of passes, and on CUDA ``torch.cuda.max_memory_allocated``. With ``isolated=True`` (``--isolated``) each size
runs in a fresh process and the growth of peak resident memory (``ru_maxrss``) during the dissection is reported
too: the thresholds are exact with bounded memory (``robattr.neurons.quantile``), so it must stay flat as ``n``
grows, while holding all activations would take ``n x 512 x 49 x 4`` bytes.

Modes: ``quick`` (under 30 s on a 2-core CPU): 64x64 images, 16 and 32 of them; full: 224x224, 64 and 128 images
on CPU, 512 and 2048 on CUDA (data loading with 8 workers there). Usage::

    python benchmarks/dissection_throughput.py --quick                       # CPU smoke run
    python benchmarks/dissection_throughput.py --device cuda --json /tmp/dissection.json
    python benchmarks/dissection_throughput.py --sizes 64 128 256 --isolated  # memory flat as n grows (CPU)

``run(quick, device)`` is what ``benchmarks/run_all.py`` calls.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import torch

LAYER = "net.layer4"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script from any directory: import robattr from this checkout
    sys.path.insert(0, ROOT)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _settings(quick: bool, device: str) -> dict:
    cuda = device.startswith("cuda")
    if quick:
        return {"image_size": 64, "mask_size": 32, "sizes": [16, 32], "batch": 16, "workers": 0}
    sizes = [512, 2048] if cuda else [64, 128]
    return {"image_size": 224, "mask_size": 112, "sizes": sizes, "batch": 64, "workers": 8 if cuda else 0}


def prepare(data: str, sizes: list[int], image_size: int, mask_size: int) -> None:
    """Generate the probing set once (``max(sizes)`` images) and write ``index_<n>.csv`` with its first ``n`` rows."""
    from robattr.data.broden_synthetic import SyntheticBrodenDataset

    SyntheticBrodenDataset(data, n_images=max(sizes), seed=0, image_size=image_size, mask_size=mask_size)
    with open(os.path.join(data, "index.csv"), encoding="utf-8") as f:
        lines = f.readlines()
    for n in sizes:
        with open(os.path.join(data, f"index_{n}.csv"), "w", encoding="utf-8") as f:
            f.writelines(lines[: n + 1])


def measure(data: str, n: int, batch: int, device: str, workers: int = 0, image_size: int = 224) -> dict:
    """Dissect ``net.layer4`` of a random ResNet-18 on the first ``n`` images of ``data``; one row of results."""
    from robattr.data.broden import BrodenDataset
    from robattr.models import TorchvisionClassifier
    from robattr.neurons import LayerActivations, NetworkDissection

    torch.manual_seed(0)
    ds = BrodenDataset(data, index_file=f"index_{n}.csv")
    model = TorchvisionClassifier("resnet18").to(device).eval()
    cuda = device.startswith("cuda")
    with torch.no_grad():  # warm-up: allocator, kernels, cuDNN autotuning, so the numbers are the dissection's own
        LayerActivations(model, LAYER)(torch.rand(batch, 3, image_size, image_size, device=device))
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_mb()
    dissection = NetworkDissection(LAYER, batch_size=batch, num_workers=workers, progress=False)
    start = time.perf_counter()
    result = dissection(model, ds)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    passes = dissection.passes  # threshold passes + the IoU pass
    row = {
        "benchmark": "dissection",
        "model": "resnet18 (random weights)",
        "layer": LAYER,
        "image_size": image_size,
        "n_images": n,
        "batch": batch,
        "workers": workers,
        "device": device,
        "seconds": round(seconds, 3),
        "images_per_s": round(n / seconds, 2),
        "passes": passes,
        "image_passes_per_s": round(n * passes / seconds, 2),
        "interpretable": int(result.interpretable.sum()),
        "rss_growth_mb": round(_rss_mb() - rss_before, 1),
        "all_activations_mb": round(n * 512 * (image_size // 32) ** 2 * 4 / 2**20, 1),
    }
    if cuda:
        row["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return row


def run(quick: bool = False, device: str = "cpu", sizes: list[int] | None = None, isolated: bool = False) -> list[dict]:
    """Network Dissection images/s of ResNet-18 ``layer4`` (224x224 in the full mode), one row per probing-set size.

    Args:
        quick: the small form (64x64 images, 16 and 32 of them): under 30 s on a 2-core CPU.
        device: ``cpu`` or ``cuda[:i]``.
        sizes: probing-set sizes instead of the mode's.
        isolated: run each size in a fresh process (its peak RSS growth is then that size's own).

    Returns:
        One dict per size (see :func:`measure`).
    """
    settings = _settings(quick, device)
    sizes = sizes or settings["sizes"]
    data = tempfile.mkdtemp(prefix=f"broden{settings['image_size']}_")
    try:
        prepare(data, sizes, settings["image_size"], settings["mask_size"])
        rows = []
        for n in sizes:
            args = (data, n, settings["batch"], device, settings["workers"], settings["image_size"])
            rows.append(_in_process(*args) if isolated else measure(*args))
        return rows
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _in_process(data: str, n: int, batch: int, device: str, workers: int, image_size: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps([data, n, batch, device, workers, image_size])]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    """A markdown table of the rows."""
    cuda = any("cuda_peak_mb" in r for r in rows)
    lines = [
        "| images | size | batch | time (s) | images/s | passes | image-passes/s | peak RSS growth (MiB) |"
        + (" CUDA peak (MiB) |" if cuda else "")
        + " all activations would be (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if cuda else "") + "---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n_images']} | {r['image_size']} | {r['batch']} | {r['seconds']:.1f} | {r['images_per_s']:.1f} "
            f"| {r['passes']} | {r['image_passes_per_s']:.1f} | {r['rss_growth_mb']:.0f} |"
            + (f" {r.get('cuda_peak_mb', 0):.0f} |" if cuda else "")
            + f" {r['all_activations_mb']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small form: under 30 s on a 2-core CPU")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="probing-set sizes (default: the mode's)")
    parser.add_argument("--isolated", action="store_true", help="one process per size (peak RSS growth per size)")
    parser.add_argument("--json", default=None, help="write the rows to this JSON file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(measure(*json.loads(args.worker))))
        return
    rows = run(args.quick, args.device, args.sizes, args.isolated)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    print(
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} intra-op threads, device {args.device}, {datetime.date.today()}, "
        f"load average {os.getloadavg()[0]:.1f}; ResNet-18 (random weights) {LAYER}.\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
