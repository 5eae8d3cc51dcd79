"""``robattr-evaluate``: every evaluation job under one parser, one subcommand per job.

``test`` (the default subcommand) runs an attribution job, a LightningModule of :mod:`robattr.evaluation`, with
``trainer.test`` (``--trainer.devices N --trainer.strategy ddp`` scales it out); ``dissect``, ``noise`` and
``attack`` run Network Dissection and its corruption (:mod:`robattr.cli.neurons`)::

    robattr-evaluate --config configs/eval/mnist5k_quick.yaml         # = robattr-evaluate test --config ...
    robattr-evaluate --config configs/eval/mnist5k_quick.yaml --model.init_args.checkpoint checkpoints/x/last.ckpt
    robattr-evaluate dissect --config configs/neurons/quickstart_dissect.yaml
    robattr-evaluate noise --config configs/neurons/quickstart_noise.yaml
    robattr-evaluate attack --config configs/neurons/quickstart_attack.yaml
"""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch import LightningDataModule
from lightning.pytorch.cli import LightningArgumentParser

import robattr.data  # noqa: F401 - lists robattr's datamodules in --help
import robattr.models  # noqa: F401 - lists robattr's networks in --help
from robattr.cli.common import TRAINER_DEFAULTS, RobattrCLI, console_main
from robattr.cli.neurons import JOBS, add_job_arguments, prepare_job, run_job
from robattr.evaluation.base import EvaluationModule

TEST_HELP = "Evaluate attributions: a robattr.evaluation job run with trainer.test (the default subcommand)."
SUBCOMMANDS: tuple[str, ...] = ("test", *JOBS)


class EvaluateCLI(RobattrCLI):
    """One parser for every evaluation job: ``test`` (LightningCLI over :class:`EvaluationModule`) and the neuron jobs.

    The neuron jobs' parsers are subcommand parsers of the same top-level parser; they run without a trainer. After a
    neuron job, :attr:`result` holds its metrics.
    """

    result: dict[str, Any] | None = None
    shown_trainer_flags = frozenset(
        {"accelerator", "devices", "strategy", "num_nodes", "precision", "logger", "callbacks", "limit_test_batches",
         "enable_progress_bar", "default_root_dir"}
    )  # fmt: skip
    _neuron_started = False

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        # an evaluation job loads its classifier itself (`--model.init_args.checkpoint`): no trainer `ckpt_path`
        return {"test": {"model", "dataloaders", "datamodule", "ckpt_path", "weights_only"}}

    def _add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        self._subcommand_parsers: dict[str, LightningArgumentParser] = {}
        subcommands = parser.add_subcommands()
        test_kwargs = {"description": TEST_HELP, **kwargs.get("test", {})}
        self._subcommand_parsers["test"] = self._prepare_subcommand_parser(self.trainer_class, "test", **test_kwargs)
        subcommands.add_subcommand("test", self._subcommand_parsers["test"], help=TEST_HELP)
        for job, help_text in JOBS.items():
            job_parser = add_job_arguments(self.init_parser(description=help_text), job)
            self._subcommand_parsers[job] = job_parser
            subcommands.add_subcommand(job, job_parser, help=help_text)

    @property
    def is_neuron_job(self) -> bool:
        return self.config.get("subcommand") in JOBS

    def _set_seed(self) -> None:
        if not self.is_neuron_job:  # the neuron jobs take no seed (their randomness is seeded by their arguments)
            super()._set_seed()

    def instantiate_classes(self) -> None:
        if not self.is_neuron_job:
            super().instantiate_classes()
            return
        self.config_init = self.parser.instantiate_classes(self.config)
        self.model = self.datamodule = self.trainer = None
        subcommand = self.config.subcommand
        self._neuron_model, self._clean = prepare_job(subcommand, self.config_init[subcommand])

    def work_started(self) -> bool:
        return self._neuron_started if self.is_neuron_job else super().work_started()

    def run_subcommand(self, subcommand: str) -> None:
        if subcommand not in JOBS:
            super().run_subcommand(subcommand)
            return
        parser = self._subcommand_parsers[subcommand]
        self._neuron_started = True
        self.result = run_job(
            subcommand, parser, self.config[subcommand], self.config_init[subcommand], self._neuron_model, self._clean
        )


def _with_default_subcommand(argv: list[str]) -> list[str]:
    """``test`` is the default: ``robattr-evaluate --config X`` is ``robattr-evaluate test --config X``."""
    if argv and (argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help")):
        return argv
    return ["test", *argv]


def run(args: list[str] | None = None) -> EvaluateCLI:
    """Run one evaluation job and return the CLI; ``args`` replaces ``sys.argv[1:]``. Errors are raised."""
    argv = _with_default_subcommand(list(sys.argv[1:] if args is None else args))
    return EvaluateCLI(
        EvaluationModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults={**TRAINER_DEFAULTS, "max_epochs": 1},
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": __doc__},
        args=argv,
    )


def main(args: list[str] | None = None) -> None:
    """Console-script entry point (``robattr-evaluate``): exit status 0 on success, one-line errors otherwise.

    A bad argument prints robattr's message (argument, value, what was expected) and exits with status 2; set
    ``ROBATTR_DEBUG=1`` for the full traceback. :func:`run` raises instead.
    """
    console_main(run, args)


if __name__ == "__main__":
    main()
