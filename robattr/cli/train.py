"""``robattr-train``: LightningCLI over robattr's training modules and datamodules.

Usage::

    robattr-train fit --config configs/mnist5k/natural_quick.yaml
    robattr-train fit --config configs/mnist5k/pgd.yaml --trainer.devices 2 --trainer.strategy ddp
    robattr-train fit --config configs/mnist5k/pgd.yaml --ckpt_path last      # resume
    robattr-train fit --config configs/mnist5k/pgd.yaml --print_config        # the full, typed config
"""

from __future__ import annotations

import argparse

from lightning.pytorch import LightningDataModule

from robattr.cli.common import TRAINER_DEFAULTS, RobattrCLI, console_main
from robattr.training import ClassifierModule


class TrainCLI(RobattrCLI):
    """The training CLI: ``fit``, ``validate``, ``test`` over :class:`~robattr.training.ClassifierModule`."""


def run(args: list[str] | None = None) -> TrainCLI:
    """Run the training CLI (``fit``, ``validate``, ``test``) and return it; ``args`` replaces ``sys.argv[1:]``."""
    return TrainCLI(
        ClassifierModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": __doc__, "formatter_class": argparse.RawDescriptionHelpFormatter},
        args=args,
    )


def main(args: list[str] | None = None) -> None:
    """Console-script entry point (``robattr-train``): exit status 0 on success, one-line errors otherwise.

    A bad argument prints robattr's message (argument, value, what was expected) and exits with status 2; a job
    stopped on purpose (a non-finite loss) exits with status 1; set ``ROBATTR_DEBUG=1`` for the full traceback.
    :func:`run` raises instead.
    """
    console_main(run, args)


if __name__ == "__main__":
    main()
