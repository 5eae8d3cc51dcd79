"""``robattr-evaluate dissect|noise|attack``: Network Dissection and its corruption, configured by YAML.

These are subcommands of the one evaluation parser (:class:`robattr.cli.evaluate.EvaluateCLI`), beside ``test``. In
LightningCLI's style the model and the probing set are ``class_path`` / ``init_args``, and the dissection, noise and
attack settings are the ``__init__`` arguments of their classes, so a bad value fails at start-up. Every job writes
under ``--output_dir`` (see :mod:`robattr.neurons.jobs`) plus the resolved ``config.yaml``::

    robattr-evaluate dissect --config configs/neurons/quickstart_dissect.yaml
    robattr-evaluate noise --config configs/neurons/quickstart_noise.yaml --noise.sigma 0.05 --noise.storage jpeg
    robattr-evaluate attack --config configs/neurons/quickstart_attack.yaml --attack.init_args.eps 0.0313
    robattr-evaluate dissect --config configs/neurons/broden_resnet18.yaml --print_config

``noise`` and ``attack`` dissect the clean set first, unless ``--clean`` names the output directory of an earlier
``dissect`` of the same model, layer and probing set.
"""

from __future__ import annotations

from typing import Any

import torch
from jsonargparse import ArgumentParser, Namespace
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
    "noise": "Dissect, add random noise to the probing images, dissect again, compare (Srivastava et al. 2023, 4.1).",
    "attack": (
        "Dissect, poison the probing images with a crafted PGD attack, dissect again, compare "
        "(Srivastava et al. 2023, 4.2-4.4)."
    ),
}


def add_job_arguments(parser: ArgumentParser, job: str) -> ArgumentParser:
    """Add the arguments of neuron job ``job`` to ``parser`` (which already takes ``--config``); returns it."""
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
    parser.add_argument(
        "--overwrite", type=bool, default=False, help="replace complete results of an earlier run of this job there"
    )
    parser.add_argument("--device", type=str, default="auto", help="'auto' (CUDA when available), 'cpu', 'cuda:0', ...")
    parser.add_argument("--tensorboard", type=bool, default=True, help="write a TensorBoard summary")
    return parser


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def prepare_job(job: str, init: Namespace) -> tuple[nn.Module, DissectionResult | None]:
    """Start-up checks of neuron job ``job``, before any work: the model on its device, its layer, ``--clean``.

    Returns:
        The model on its device and the reused clean dissection (``None`` when the job dissects the clean set).
    """
    model: nn.Module = init.model.to(_device(init.device))
    resolve_layer(model, init.dissection.layer)  # a bad layer name fails before any work
    clean = DissectionResult.load(init.clean) if job != "dissect" and init.clean else None
    return model, clean


def run_job(
    job: str,
    parser: ArgumentParser,
    config: Namespace,
    init: Namespace,
    model: nn.Module,
    clean: DissectionResult | None = None,
) -> dict[str, Any]:
    """Run neuron job ``job`` from its parsed ``config`` and instantiated ``init``; returns its metrics.

    ``model`` and ``clean`` come from :func:`prepare_job`; ``parser`` is the job's own parser: it writes the resolved
    ``config.yaml`` that reruns the job as is.
    """
    dissection: NetworkDissection = init.dissection
    dataset: BrodenDataset = init.data
    out_dir = init.output_dir
    saved = config.clone()
    saved.overwrite = False  # a rerun of the saved config never replaces results unasked
    # the job checks out_dir before any work, then writes config.yaml (reusable: --config config.yaml) atomically
    files = {"overwrite": init.overwrite, "config": parser.dump(saved, skip_none=False)}
    if job == "dissect":
        result = run_dissect(model, dataset, dissection, out_dir, tensorboard=init.tensorboard, **files)
        metrics: dict[str, Any] = {
            "dissect/interpretable_units": int(result.interpretable.sum()),
            "dissect/units": result.num_units,
        }
        metrics["dissect/labels"] = result.names()
    elif job == "noise":
        metrics = run_noise(
            model, dataset, dissection, init.noise, out_dir, clean=clean, tensorboard=init.tensorboard, **files
        )
    else:
        metrics = run_attack(
            model, dataset, dissection, init.attack, out_dir, clean=clean, tensorboard=init.tensorboard, **files
        )
    rank_zero_info(f"{job}: results in {out_dir}\n" + "\n".join(f"  {k}: {v}" for k, v in metrics.items()))
    return metrics


def main(argv: list[str]) -> dict[str, Any]:
    """Run one neuron job from Python; ``argv`` starts with the job (``["dissect", "--config", ...]``).

    The same parser as ``robattr-evaluate`` (:func:`robattr.cli.evaluate.run`); errors are raised, not printed.

    Returns:
        The job's metrics (also written to ``<output_dir>/metrics.json``).
    """
    if not argv or argv[0] not in JOBS:
        raise ValueError(f"Expected the first argument to be one of {list(JOBS)}, but got {argv[:1]}")
    from robattr.cli.evaluate import run

    return run(argv).result


__all__ = ["JOBS", "add_job_arguments", "main", "prepare_job", "run_job"]
