"""``train.py``: LightningCLI over robattr's training modules and datamodules.

Usage::

    robattr-train fit --config configs/mnist5k/natural_quick.yaml
    robattr-train fit --config configs/mnist5k/pgd.yaml --trainer.devices 2 --trainer.strategy ddp
    robattr-train fit --config configs/mnist5k/pgd.yaml --ckpt_path last      # resume
    robattr-train fit --config configs/mnist5k/pgd.yaml --print_config        # the full, typed config
"""

from __future__ import annotations

import argparse

from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningCLI

from robattr.training import ClassifierModule

TRAINER_DEFAULTS = {
    # attacks and attributions need autograd in validation and test: inference mode cannot be undone by enable_grad
    "inference_mode": False,
    # AdaptiveAvgPool2d has no deterministic CUDA backward; "warn" keeps runs going
    "deterministic": "warn",
}


class RobattrCLI(LightningCLI):
    """LightningCLI with robattr's trainer defaults and a seed that is always set."""


def run(args: list[str] | None = None) -> RobattrCLI:
    """Run the training CLI (``fit``, ``validate``, ``test``) and return it; ``args`` replaces ``sys.argv[1:]``."""
    return RobattrCLI(
        ClassifierModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": __doc__, "formatter_class": argparse.RawDescriptionHelpFormatter},
        args=args,
    )


def main(args: list[str] | None = None) -> None:
    """Console-script entry point (``robattr-train``): returns nothing, so the exit status is 0 on success."""
    run(args)


if __name__ == "__main__":
    main()
