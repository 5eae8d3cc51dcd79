"""Network Dissection throughput and peak memory as the probing set grows.

A ResNet-18 with random weights (``robattr.models.TorchvisionClassifier``), layer ``net.layer4`` (512 units, 7x7 at
224x224), dissected on the first ``n`` images of a generated Broden-format set at 224x224 (masks 112x112), for each
``n`` in ``--sizes``. Each size runs in a fresh process, so the peak resident memory (``ru_maxrss``) of one size
does not hide in another's. Reported: wall time of the whole dissection (threshold passes + IoU pass), images per
second (``n / time``), passes over the data, the growth of peak RSS during the dissection (after a warm-up batch),
the tracemalloc peak (Python-heap allocations only: torch's CPU tensors are not traced), and on CUDA
``torch.cuda.max_memory_allocated``. The thresholds are exact with bounded memory (``robattr.neurons.quantile``), so
the memory must stay flat as ``n`` grows; holding all activations would take ``n x 512 x 49 x 4`` bytes. Usage::

    python benchmarks/dissection_throughput.py                        # 64, 128, 256 images, CPU
    python benchmarks/dissection_throughput.py --device cuda --sizes 256 1024 4096
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
import tracemalloc

import torch


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(data: str, n: int, batch: int, device: str, threads: int) -> dict:
    from robattr.data.broden import BrodenDataset
    from robattr.models import TorchvisionClassifier
    from robattr.neurons import LayerActivations, NetworkDissection

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ds = BrodenDataset(data, index_file=f"index_{n}.csv")
    model = TorchvisionClassifier("resnet18").to(device).eval()
    with torch.no_grad():  # warm-up: allocator and kernels, so the RSS growth below is the dissection's own
        LayerActivations(model, "net.layer4")(torch.rand(batch, 3, 224, 224, device=device))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_mb()
    tracemalloc.start()
    dissection = NetworkDissection("net.layer4", batch_size=batch, progress=False)
    start = time.perf_counter()
    result = dissection(model, ds)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out = {
        "n": n,
        "seconds": seconds,
        "images_per_s": n / seconds,
        "interpretable": int(result.interpretable.sum()),
        "rss_growth_mb": _rss_mb() - rss_before,
        "rss_peak_mb": _rss_mb(),
        "tracemalloc_peak_mb": traced_peak / 2**20,
        "all_activations_mb": n * 512 * 49 * 4 / 2**20,
    }
    if device.startswith("cuda"):
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _prepare(data: str, sizes: list[int]) -> None:
    from robattr.data.broden_synthetic import SyntheticBrodenDataset

    n_max = max(sizes)
    SyntheticBrodenDataset(data, n_images=n_max, seed=0, image_size=224, mask_size=112)
    with open(os.path.join(data, "index.csv"), encoding="utf-8") as f:
        lines = f.readlines()
    for n in sizes:
        with open(os.path.join(data, f"index_{n}.csv"), "w", encoding="utf-8") as f:
            f.writelines(lines[: n + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--data", default=None, help="directory of the generated 224x224 set (default: a temporary one)"
    )
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.data, args.worker, args.batch, args.device, args.threads)))
        return
    data = args.data or tempfile.mkdtemp(prefix="broden224_")
    try:
        _prepare(data, args.sizes)
        rows = []
        for n in args.sizes:
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                str(n),
                "--data",
                data,
                "--batch",
                str(args.batch),
                "--device",
                args.device,
                "--threads",
                str(args.threads),
            ]
            out = subprocess.run(
                cmd, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()}
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)
    load = os.getloadavg()[0]
    print(
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__} with {args.threads} intra-op threads, "
        f"device {args.device}, {datetime.date.today()}, load average {load:.1f}; ResNet-18 (random weights) net.layer4, "
        f"224x224 images, batch {args.batch}.\n"
    )
    cuda = args.device.startswith("cuda")
    print(
        "| images | time (s) | images/s | peak RSS growth (MiB) | peak RSS (MiB) | tracemalloc peak (MiB) |"
        + (" CUDA peak (MiB) |" if cuda else "")
        + " all activations would be (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|" + ("---:|" if cuda else "") + "---:|")
    for r in rows:
        print(
            f"| {r['n']} | {r['seconds']:.1f} | {r['images_per_s']:.1f} | {r['rss_growth_mb']:.0f} | {r['rss_peak_mb']:.0f} "
            f"| {r['tracemalloc_peak_mb']:.2f} |"
            + (f" {r['cuda_peak_mb']:.0f} |" if cuda else "")
            + f" {r['all_activations_mb']:.1f} |"
        )


if __name__ == "__main__":
    main()
