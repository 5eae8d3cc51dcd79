"""``evaluate.py dissect|noise|attack``: Network Dissection and its corruption, configured by YAML.

jsonargparse, in LightningCLI's style: the model and the probing set are ``class_path`` / ``init_args``, the
dissection, noise and attack settings are the ``__init__`` arguments of their classes, so a bad value fails at
start-up. Every job writes under ``--output_dir`` (see :mod:`robattr.neurons.jobs`) plus the resolved
``config.yaml``::

    python evaluate.py dissect --config configs/neurons/quickstart_dissect.yaml
    python evaluate.py noise --config configs/neurons/quickstart_noise.yaml --noise.sigma 0.05 --noise.storage jpeg
    python evaluate.py attack --config configs/neurons/quickstart_attack.yaml --attack.init_args.eps 0.0313
    python evaluate.py dissect --config configs/neurons/broden_resnet18.yaml --print_config

``noise`` and ``attack`` dissect the clean set first, unless ``--clean`` names the output directory of an earlier
``dissect`` of the same model, layer and probing set.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from jsonargparse import ActionConfigFile, ArgumentParser, Namespace
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from robattr.data.broden import BrodenDataset
from robattr.neurons.attacks import ProbingAttack
from robattr.neurons.dissection import DissectionResult, NetworkDissection
from robattr.neurons.hooks import resolve_layer
from robattr.neurons.jobs import run_attack, run_dissect, run_noise
from robattr.neurons.noise import NoiseCorruption

JOBS: dict[str, str] = {
    "dissect": "Network Dissection of one layer on a Broden-format probing set.",
    "noise": "Dissect, add random noise to the probing images, dissect again, compare (spec 4.1).",
    "attack": "Dissect, poison the probing images with a crafted PGD attack, dissect again, compare (spec 4.2-4.4).",
}


def _job_parser(job: str) -> ArgumentParser:
    parser = ArgumentParser(description=JOBS[job])
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file(s) with the arguments below")
    parser.add_subclass_arguments(nn.Module, "model", required=True, help="the network: class_path and init_args")
    parser.add_class_arguments(NetworkDissection, "dissection", help="Network Dissection settings")
    if job == "noise":
        parser.add_class_arguments(NoiseCorruption, "noise", help="the random-noise corruption")
    if job == "attack":
        parser.add_subclass_arguments(
            ProbingAttack, "attack", required=True, help="ConceptAttack, UnitAttack or ExemplarAttack"
        )
    # the probing set last: a generated one is written when instantiated, after every other argument was checked
    parser.add_subclass_arguments(
        BrodenDataset, "data", required=True, help="the probing set: BrodenDataset or SyntheticBrodenDataset"
    )
    if job != "dissect":
        parser.add_argument(
            "--clean", type=str | None, default=None, help="output directory of an earlier `dissect` to reuse"
        )
    parser.add_argument("--output_dir", type=str, required=True, help="where results are written")
    parser.add_argument("--device", type=str, default="auto", help="'auto' (CUDA when available), 'cpu', 'cuda:0', ...")
    parser.add_argument("--tensorboard", type=bool, default=True, help="write a TensorBoard summary")
    return parser


def build_parser() -> ArgumentParser:
    """The parser of ``evaluate.py dissect|noise|attack``."""
    parser = ArgumentParser(
        prog="evaluate.py", description="Neuron explanations: Network Dissection and its corruption."
    )
    subcommands = parser.add_subcommands(dest="job", required=True)
    for job in JOBS:
        subcommands.add_subcommand(job, _job_parser(job), help=JOBS[job])
    return parser


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run one job; ``argv`` is the argument list without the program name (``["dissect", "--config", ...]``).

    Returns:
        The job's metrics (also written to ``<output_dir>/metrics.json``).
    """
    parser = build_parser()
    cfg = parser.parse_args(argv)
    job = cfg.job
    init: Namespace = parser.instantiate_classes(cfg)[job]
    model: nn.Module = init.model.to(_device(init.device))
    dissection: NetworkDissection = init.dissection
    resolve_layer(model, dissection.layer)  # a bad layer name fails before any work
    dataset: BrodenDataset = init.data
    out_dir = init.output_dir
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.yaml"), "w", encoding="utf-8") as f:  # reusable: --config config.yaml
        f.write(_job_parser(job).dump(cfg[job], skip_none=False))
    clean = DissectionResult.load(init.clean) if job != "dissect" and init.clean else None
    if job == "dissect":
        result = run_dissect(model, dataset, dissection, out_dir, tensorboard=init.tensorboard)
        metrics: dict[str, Any] = {
            "dissect/interpretable_units": int(result.interpretable.sum()),
            "dissect/units": result.num_units,
        }
        metrics["dissect/labels"] = result.names()
    elif job == "noise":
        metrics = run_noise(model, dataset, dissection, init.noise, out_dir, clean=clean, tensorboard=init.tensorboard)
    else:
        metrics = run_attack(
            model, dataset, dissection, init.attack, out_dir, clean=clean, tensorboard=init.tensorboard
        )
    rank_zero_info(f"{job}: results in {out_dir}\n" + "\n".join(f"  {k}: {v}" for k, v in metrics.items()))
    return metrics


if __name__ == "__main__":
    main()
