"""Run every robattr benchmark in one call and write one JSON file and one markdown table, with the machine and date.

Each script in ``BENCHMARKS`` exposes ``run(quick: bool, device: str) -> list[dict]``; this driver imports it from
``benchmarks/``, times it, and collects its rows. A benchmark that fails is recorded with its error and the others
still run; the exit status is then 1. Budgets: the full run is sized for about 8 minutes on one H100 / H200,
``--quick`` for under 3 minutes on a 2-core CPU (a test runs the quick form).

=======================  ==========================================================================================
benchmark                what it measures
=======================  ==========================================================================================
``ig_throughput``        robattr IG vs captum IG vs the m x forward+backward limit
``metrics_throughput``   batched metrics vs a per-image numpy / scipy loop (224x224, k = 1000, batch 256 in full)
``attack_throughput``    one attribution-attack step vs its floor; batched vs one image at a time (batch 64 in full)
``training_throughput``  images/s per training mode, vs natural training and vs each mode's floor
``dissection``           Network Dissection images/s (ResNet-18 layer4, 224x224 in full)
``autocast_check``       bf16 autocast vs fp32: IG maps and metric values, with a stated tolerance
=======================  ==========================================================================================

Usage::

    python benchmarks/run_all.py --device cuda --out benchmarks/results           # on a GPU machine
    OMP_NUM_THREADS=1 python benchmarks/run_all.py --quick --out /tmp/bench       # CPU smoke run
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

import torch

HERE = Path(__file__).resolve().parent
BENCHMARKS: dict[str, str] = {
    "ig_throughput": "ig_throughput.py",
    "metrics_throughput": "metrics_throughput.py",
    "attack_throughput": "attack_throughput.py",
    "training_throughput": "training_throughput.py",
    "dissection": "dissection_throughput.py",
    "autocast_check": "autocast_check.py",
}


def load(filename: str) -> ModuleType:
    """Import ``benchmarks/<filename>`` as a module (the folder is not a package)."""
    path = HERE / filename
    spec = importlib.util.spec_from_file_location(f"robattr_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise AttributeError(f"{path} has no run(quick, device) function")
    return module


def machine(device: str) -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "torch_threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        info["gpu"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
        info["cuda"] = str(torch.version.cuda)
    return info


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown(info: dict[str, str], results: dict[str, dict]) -> str:
    """One section per benchmark: a table of its rows, or its error."""
    lines = ["# robattr benchmarks", "", *(f"- {k}: {v}" for k, v in info.items()), ""]
    for name, result in results.items():
        lines += [f"## {name} ({result['seconds']:.1f} s)", ""]
        if result.get("error"):
            lines += ["```", result["error"].rstrip(), "```", ""]
            continue
        rows = result["rows"]
        columns = list(dict.fromkeys(k for row in rows for k in row if k != "benchmark"))
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def run_all(
    quick: bool, device: str, only: list[str] | None = None, out: Path | None = None
) -> tuple[dict[str, str], dict[str, dict]]:
    """Run the selected benchmarks; returns the machine description and ``name -> {rows, seconds, error}``.

    With ``out``, the JSON and markdown files are rewritten after every benchmark, so a run stopped by a time limit
    keeps what it measured.
    """
    unknown = sorted(set(only or []) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"Expected `only` to name benchmarks among {sorted(BENCHMARKS)}, but got {unknown}")
    info, results = machine(device), {}
    for name, filename in BENCHMARKS.items():
        if only and name not in only:
            continue
        print(f"[run_all] {name} ...", flush=True)
        start = time.perf_counter()
        try:
            rows = load(filename).run(quick=quick, device=device)
            results[name] = {"rows": rows, "seconds": time.perf_counter() - start, "error": None}
        except Exception:  # noqa: BLE001 - one failing benchmark must not hide the others
            results[name] = {"rows": [], "seconds": time.perf_counter() - start, "error": traceback.format_exc()}
        status = "FAILED" if results[name]["error"] else f"{len(results[name]['rows'])} rows"
        print(f"[run_all] {name}: {status} in {results[name]['seconds']:.1f} s", flush=True)
        if out is not None:
            write(out, info, results)
    return info, results


def write(out: Path, info: dict[str, str], results: dict[str, dict]) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` atomically into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "results.json", out / "results.md")
    texts = (json.dumps({"machine": info, "results": results}, indent=1, default=str), markdown(info, results))
    for path, text in zip(paths, texts):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a CPU smoke run in under 3 minutes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="benchmarks/results", help="folder for results.json and results.md")
    parser.add_argument("--only", nargs="*", default=None, help=f"a subset of {sorted(BENCHMARKS)}")
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)  # an unusable --out fails now, not after the first benchmark
    start = time.perf_counter()
    info, results = run_all(args.quick, args.device, args.only, Path(args.out))
    info["total_seconds"] = f"{time.perf_counter() - start:.1f}"
    json_path, md_path = write(Path(args.out), info, results)
    print(f"[run_all] {info['total_seconds']} s in all; wrote {json_path} and {md_path}")
    return 1 if any(r["error"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
