"""``robattr-train``: LightningCLI over robattr's training modules and datamodules.

Usage::

    robattr-train fit --config configs/mnist5k/natural_quick.yaml
    robattr-train fit --config configs/mnist5k/pgd.yaml --trainer.devices 2 --trainer.strategy ddp
    robattr-train fit --config configs/mnist5k/pgd.yaml --ckpt_path last      # resume (a new run when none exists)
    robattr-train fit --config configs/mnist5k/pgd.yaml --print_config        # the full, typed config

Checkpoints are written atomically (a kill never destroys the previous one). A ``fit`` without ``--ckpt_path``
into checkpoint directories that already hold checkpoints refuses (``--overwrite true`` deletes them and starts
over). On resume the command line wins over the checkpoint's hyperparameters, and the differences are listed; a
different network, class count, optimizer or schedule is refused (the checkpoint's weights or optimizer state would
not fit or would silently replace it). SIGTERM or Ctrl-C save a resumable ``last.ckpt`` and exit with status
``128 + signal``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import Namespace
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch import LightningDataModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info

import robattr.data  # noqa: F401 - lists robattr's datamodules in --help
from robattr.cli.common import TRAINER_DEFAULTS, JobError, RobattrCLI, console_main
from robattr.training import ClassifierModule
from robattr.training.callbacks import EpochSummary
from robattr.training.checkpointing import AtomicCheckpointIO, SaveOnInterrupt, remove_partial_files

# hyperparameters a resumed run cannot change: the weights or the optimizer state of the checkpoint would not fit
# them, or would silently replace them (the restored optimizer state carries the learning rate)
FIXED_ON_RESUME = ("model.init_args.net", "model.init_args.num_classes", "model.init_args.optimizer",
                   "model.init_args.lr_scheduler")  # fmt: skip


class RunDirectoryError(JobError):
    """A fit would mix a new run into an earlier run's checkpoints, or a resume would change what cannot change."""

    exit_code = 2


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def checkpoint_model_config(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """The ``model`` config (``class_path`` / ``init_args``) a checkpoint was trained with, ``None`` if unrecorded."""
    hparams = checkpoint.get("hyper_parameters") or {}
    if "_class_path" not in hparams:
        return None
    init_args = {k: v for k, v in hparams.items() if not k.startswith("_")}
    return yaml.safe_load(yaml.safe_dump({"class_path": hparams["_class_path"], "init_args": init_args}))


def model_config_changes(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{"model.init_args.x": (checkpoint's value, current value)}`` for every setting that differs."""
    before, after = _flatten(saved, "model"), _flatten(current, "model")
    missing = "(absent)"
    return {
        key: (before.get(key, missing), after.get(key, missing))
        for key in sorted(before.keys() | after.keys())
        if before.get(key, missing) != after.get(key, missing)
    }


class TrainCLI(RobattrCLI):
    """The training CLI: ``fit``, ``validate``, ``test`` over :class:`~robattr.training.ClassifierModule`."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--overwrite",
            type=bool,
            default=False,
            help="fit without --ckpt_path into checkpoint directories holding an earlier run's checkpoints: delete "
            "them and start over (without it such a fit refuses)",
        )

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        for action in parser._actions:
            if action.dest == "ckpt_path":
                action.help = (
                    "checkpoint to start from: a file, or `last` (the newest last*.ckpt in the run's checkpoint "
                    "directories; fit starts a new run when there is none)"
                )
        return parser

    def _parse_ckpt_path(self) -> None:
        """Keep the command line: LightningCLI would parse the checkpoint's hyperparameters over it (see resume)."""

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # not a writer the user configured
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        trainer.callbacks.extend([SaveOnInterrupt(), EpochSummary()])
        return trainer

    def before_instantiate_classes(self) -> None:
        if self.subcommand in ("validate", "test"):  # the training run's config.yaml stays the fit's
            self.save_config_kwargs = {**self.save_config_kwargs, "config_filename": f"config_{self.subcommand}.yaml"}

    # --- checkpoint directories and resume ------------------------------------------------------------------------

    def checkpoint_dirs(self) -> list[Path]:
        """The explicit ``dirpath`` of every :class:`ModelCheckpoint` of the run (partial saves removed)."""
        dirs = [Path(cb.dirpath) for cb in self.trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)]
        dirs = list(dict.fromkeys(d for d in dirs if str(d) not in ("", "None")))
        for folder in dirs:
            for path in remove_partial_files(folder):
                rank_zero_info(f"Removed {path}, the temporary file of a checkpoint save that was killed")
        return dirs

    def _resolve_ckpt_path(self, subcommand: str, dirs: list[Path]) -> Path | None:
        given = self.config_init[subcommand].get("ckpt_path")
        if given is None or given != "last":
            return Path(given) if given is not None else None
        candidates = [p for d in dirs for p in d.glob("last*.ckpt")] if dirs else []
        if not candidates:
            where = ", ".join(str(d) for d in dirs) or "the checkpoint directories"
            if subcommand != "fit":
                raise RunDirectoryError(f"Expected a last.ckpt to load in {where}, but got none")
            rank_zero_info(f"No checkpoint to resume in {where}: starting a new run")
            self.config_init[subcommand]["ckpt_path"] = None
            return None
        newest = max(candidates, key=lambda p: p.stat().st_mtime)
        self.config_init[subcommand]["ckpt_path"] = str(newest)
        return newest

    def _refuse_earlier_run(self, dirs: list[Path]) -> None:
        existing = {d: sorted(p.name for p in d.glob("*.ckpt")) for d in dirs if d.is_dir()}
        existing = {d: names for d, names in existing.items() if names}
        if not existing:
            return
        if self.config_init["fit"].get("overwrite"):
            for folder, names in existing.items():
                for name in names:
                    (folder / name).unlink(missing_ok=True)
                rank_zero_info(f"--overwrite: deleted the earlier run's {', '.join(names)} in {folder}")
            return
        found = "; ".join(f"{d}: {', '.join(names)}" for d, names in existing.items())
        raise RunDirectoryError(
            f"Expected the checkpoint directories of a new run to hold no checkpoints, but got {found}. Resume that "
            "run with --ckpt_path last, save this one elsewhere (the dirpath of the ModelCheckpoint callbacks in "
            "--trainer.callbacks), or pass --overwrite true to delete them and start over"
        )

    def _check_resume(self, subcommand: str, ckpt: Path, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint_model_config(checkpoint)
        if saved is None:
            return
        current = yaml.safe_load(self._parser(subcommand).dump(self.config[subcommand], skip_none=False))["model"]
        changes = model_config_changes(saved, current)
        fixed = FIXED_ON_RESUME if subcommand == "fit" else FIXED_ON_RESUME[:2]
        refused = {k: v for k, v in changes.items() if k.startswith(fixed)}
        if refused:
            listed = "; ".join(f"--{k}: {a!r} in the checkpoint, {b!r} now" for k, (a, b) in refused.items())
            raise RunDirectoryError(
                f"Expected the settings that {ckpt} was trained with for its network, class count, optimizer and "
                f"schedule, but got {listed}. Start a new run instead (without --ckpt_path)"
            )
        if changes:
            listed = "\n".join(f"  --{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items())
            rank_zero_info(
                f"Using {ckpt} with settings changed from the checkpoint's (the command line wins):\n{listed}"
            )

    def _prepare_checkpoints(self, subcommand: str) -> None:
        dirs = self.checkpoint_dirs()
        ckpt = self._resolve_ckpt_path(subcommand, dirs)
        if ckpt is None and subcommand == "fit":
            self._refuse_earlier_run(dirs)
        elif ckpt is not None:
            if not ckpt.is_file():
                raise RunDirectoryError(f"Expected `ckpt_path` to be an existing checkpoint file, but got '{ckpt}'")
            checkpoint = torch.load(ckpt, map_location="cpu", weights_only=False)
            self._check_resume(subcommand, ckpt, checkpoint)
            if subcommand != "fit":
                self._log_into_training_run(subcommand, checkpoint)

    def _log_into_training_run(self, subcommand: str, checkpoint: dict[str, Any]) -> None:
        """``test`` / ``validate`` of a checkpoint log into the TensorBoard run that trained it, not a new one."""
        logger, config = self.trainer.logger, self.config[subcommand].trainer.logger
        log_dir = (checkpoint.get("robattr") or {}).get("log_dir")
        if not isinstance(logger, TensorBoardLogger) or not isinstance(config, Namespace) or not log_dir:
            return
        init_args = config.get("init_args", Namespace()).as_dict()
        same_family = Path(log_dir).parent.resolve() == Path(logger.root_dir).resolve()
        if init_args.get("version") is not None or not same_family or not Path(log_dir).is_dir():
            return  # a version chosen on purpose, another logger, or a moved run: log as configured
        self.trainer.logger = TensorBoardLogger(**{**init_args, "version": Path(log_dir).name})
        rank_zero_info(f"Logging {subcommand} results into the training run {log_dir}")

    def before_fit(self) -> None:
        self._prepare_checkpoints("fit")

    def before_validate(self) -> None:
        self._prepare_checkpoints("validate")

    def before_test(self) -> None:
        self._prepare_checkpoints("test")

    # --- signals --------------------------------------------------------------------------------------------------

    def run_subcommand(self, subcommand: str) -> None:
        try:
            super().run_subcommand(subcommand)
        except BaseException:
            stopper = next((cb for cb in self.trainer.callbacks if isinstance(cb, SaveOnInterrupt)), None)
            if stopper is not None and stopper.signal is not None:
                raise SystemExit(128 + int(stopper.signal)) from None
            raise


def run(args: list[str] | None = None) -> TrainCLI:
    """Run the training CLI (``fit``, ``validate``, ``test``) and return it; ``args`` replaces ``sys.argv[1:]``."""
    return TrainCLI(
        ClassifierModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": __doc__},
        args=args,
    )


def main(args: list[str] | None = None) -> None:
    """Console-script entry point (``robattr-train``): exit status 0 on success, one-line errors otherwise.

    A bad argument or a refused run directory prints robattr's message (argument, value, what was expected) and
    exits with status 2; a job stopped on purpose (a non-finite loss) exits with status 1, one stopped by SIGTERM or
    Ctrl-C with ``128 + signal`` after saving a resumable checkpoint; set ``ROBATTR_DEBUG=1`` for the full traceback.
    :func:`run` raises instead.
    """
    console_main(run, args)


__all__ = ["RunDirectoryError", "TrainCLI", "checkpoint_model_config", "main", "model_config_changes", "run"]


if __name__ == "__main__":  # python -m robattr.cli.train (without this guard the module ran nothing and exited 0)
    main()
