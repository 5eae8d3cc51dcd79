"""``evaluate.py``: evaluation jobs configured by YAML.

Attribution jobs are LightningModules run with ``trainer.test`` under LightningCLI (``--trainer.devices N
--trainer.strategy ddp`` scales them out)::

    robattr-evaluate --config configs/eval/mnist5k_quick.yaml
    robattr-evaluate --config configs/eval/mnist5k_quick.yaml --model.init_args.checkpoint checkpoints/x/last.ckpt

Neuron-explanation jobs (Network Dissection and its corruption) are subcommands::

    robattr-evaluate dissect --config configs/neurons/quickstart_dissect.yaml
    robattr-evaluate noise --config ...
    robattr-evaluate attack --config ...
"""

from __future__ import annotations

import argparse
import sys

from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningCLI

from robattr.cli.train import TRAINER_DEFAULTS
from robattr.evaluation.base import EvaluationModule

NEURON_JOBS = ("dissect", "noise", "attack")


def main(args: list[str] | None = None) -> None:
    """Run an evaluation job; ``args`` replaces ``sys.argv[1:]`` when given."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv and argv[0] in NEURON_JOBS:
        from robattr.cli.neurons import main as neurons_main

        neurons_main(argv)
        return
    cli = LightningCLI(
        EvaluationModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults={**TRAINER_DEFAULTS, "max_epochs": 1},
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        run=False,
        parser_kwargs={"description": __doc__, "formatter_class": argparse.RawDescriptionHelpFormatter},
        args=argv,
    )
    cli.trainer.test(cli.model, datamodule=cli.datamodule)


if __name__ == "__main__":
    main()
