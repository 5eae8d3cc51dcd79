"""The base of ``evaluate.py`` jobs: load a classifier, check it against the data, run resumably, write results.

:class:`EvaluationModule` does what every evaluation job needs around its own ``evaluate_batch``:

- **start-up checks, before any compute**: the checkpoint is readable and holds finite weights; the classifier
  accepts the configured data's images and has one output per class, with finite logits; the image budget
  ``num_images`` fits the test set; ``output_dir`` is created and writable, and holds neither finished results
  (unless ``overwrite``) nor the unfinished state of another configuration;
- **the image budget**: ``num_images`` = the first N test images, the same set under DDP with any number of
  processes (the distributed sampler's padding duplicates are masked out by :meth:`valid_mask`);
- **resume after a kill**: every ``save_every_n_batches`` batches each process saves its metric states, its
  random-generator states and the next batch index (:mod:`robattr.evaluation.resume`); rerunning the same command
  continues and ends with exactly the numbers of an uninterrupted run;
- **progress and signals**: a progress bar or one line per phase, and a stop within seconds on SIGTERM / SIGINT
  (:mod:`robattr.evaluation.monitor`), raising :class:`robattr.progress.Interrupted` out of ``trainer.test``;
- **results that say what produced them**, written atomically (:mod:`robattr.evaluation.results`).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import torch
import torchvision
from jsonargparse import ArgumentParser
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torch.utils.data import Dataset, DistributedSampler, Subset
from torchmetrics.aggregation import SumMetric

from robattr.checks import check_bool, check_int, check_optional_int
from robattr.evaluation.monitor import EvaluationMonitor
from robattr.evaluation.results import (
    RESULT_FILES,
    check_writable_dir,
    describe,
    fingerprint,
    format_table,
    now,
    read_results,
    sha256_file,
    sha256_tensors,
    versions,
    write_atomic,
    write_results,
)
from robattr.evaluation.resume import STATE_DIR, RunState, metric_states, rng_states, set_rng_states
from robattr.models import make_switchable
from robattr.progress import Interrupted

GRID_DIR = "grids"
# init arguments that decide where and how a run is written, not its numbers: left out of the resume fingerprint
NOT_IN_FINGERPRINT = ("checkpoint", "output_dir", "overwrite", "resume", "save_every_n_batches", "num_vis")


# --- loading a classifier ---------------------------------------------------------------------------------------


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def read_checkpoint(checkpoint: str | Path) -> dict[str, Any]:
    """The content of a robattr training checkpoint, with errors that name the file.

    Raises:
        ValueError: if the file does not exist, cannot be read (truncated or corrupt: the message says so and what
            to do) or holds no robattr training module with a ``net``.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise ValueError(f"Expected `checkpoint` to be an existing checkpoint file, but got '{checkpoint}'")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # zip / pickle / EOF errors of a truncated or overwritten file
        raise ValueError(
            f"Expected `checkpoint` to be a readable checkpoint file, but got '{checkpoint}', which is truncated or "
            f"corrupt ({_first_line(error)}); point `checkpoint` to another file of the run (last.ckpt or a "
            "best-*.ckpt) or train again"
        ) from error
    net_config = ckpt.get("hyper_parameters", {}).get("net") if isinstance(ckpt, dict) else None
    if net_config is None or "state_dict" not in ckpt:
        raise ValueError(
            f"Expected `checkpoint` to hold a robattr training module with a `net`, but got '{checkpoint}'"
        )
    return ckpt


def net_from_config(config: Any, source: str = "`net`") -> nn.Module:
    """Build a classifier from a ``{"class_path": ..., "init_args": {...}}`` config, nested configs included.

    Uses jsonargparse (the machinery of LightningCLI), so the arguments are type-checked against the class's
    ``__init__`` like a YAML config.

    Example:
        >>> net = net_from_config({"class_path": "robattr.models.MnistCNN", "init_args": {"num_classes": 4}})
        >>> type(net).__name__
        'MnistCNN'

    Raises:
        ValueError: naming ``source`` when the config does not describe a ``torch.nn.Module``.
    """
    if isinstance(config, nn.Module):
        return config
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(nn.Module, "net", required=True)
    try:
        return parser.instantiate(parser.parse_object({"net": dict(config)})).net
    except Exception as error:
        raise ValueError(f"Expected {source} to describe a torch.nn.Module, but got {config!r} ({error})") from error


def net_summary(config: Any) -> str:
    """``robattr.models.MnistCNN(num_classes=10, in_channels=1)`` for a net config, the class name for a module."""
    if isinstance(config, nn.Module):
        return type(config).__name__
    if isinstance(config, dict) and "class_path" in config:
        args = ", ".join(f"{k}={v!r}" for k, v in dict(config.get("init_args") or {}).items())
        return f"{config['class_path']}({args})"
    return repr(config)


def check_finite_weights(net: nn.Module, source: str) -> None:
    """Raise a ``ValueError`` naming ``source`` and the first parameter or buffer with NaN / inf values."""
    for name, tensor in [*net.named_parameters(), *net.named_buffers()]:
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise ValueError(
                f"Expected the weights of {source} to be finite, but got {bad} NaN / inf values in `{name}`; the "
                "training diverged: use an earlier checkpoint or train again with a smaller learning rate"
            )


def _load_classifier(checkpoint: str | Path) -> tuple[nn.Module, Any]:
    ckpt = read_checkpoint(checkpoint)
    config = ckpt["hyper_parameters"]["net"]
    net = net_from_config(config, f"the `net` saved in checkpoint '{checkpoint}'")
    state = {k[len("net.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    try:
        net.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"Expected the weights of checkpoint '{checkpoint}' to fit its saved architecture {net_summary(config)}, "
            f"but got {_first_line(error)}"
        ) from error
    check_finite_weights(net, f"checkpoint '{checkpoint}'")
    return make_switchable(net).eval(), config


def load_classifier(checkpoint: str | Path) -> nn.Module:
    """The ``net`` of a robattr training checkpoint, rebuilt from its saved config, in eval mode, switchable.

    robattr's training modules save their ``net`` argument as a ``class_path`` / ``init_args`` dict (LightningCLI)
    or, when built in Python, as the module itself; both are accepted.

    Raises:
        ValueError: if the file does not exist, is truncated or corrupt, holds no robattr classifier, holds weights
            that do not fit its saved architecture, or holds non-finite weights (each message names the file).
    """
    return _load_classifier(checkpoint)[0]


class _FirstImages(Subset):
    """The first ``n`` items of a test set (the image budget); ``dataset`` keeps the whole set."""

    def __init__(self, dataset: Dataset, n: int) -> None:
        super().__init__(dataset, range(n))


# --- the base job -----------------------------------------------------------------------------------------------


class EvaluationModule(LightningModule):
    """Base class of the evaluation jobs run by ``evaluate.py`` (``trainer.test``).

    Holds the classifier (from ``checkpoint`` or a configured ``net``), frozen and always in eval mode. Subclasses
    implement :meth:`evaluate_batch` (wrapping each method / attack in :meth:`phase`) and :meth:`result_rows`; this
    class does the rest (see the module docstring): start-up checks, the image budget, DDP padding, resume,
    progress, signals and the result files ``results.csv`` / ``results.json`` with the run's metadata.

    A run's ``output_dir`` moves through three states: empty (a new run starts), unfinished (``resume/`` holds the
    per-process state: the same command continues it), finished (``results.*``: a new run refuses unless
    ``overwrite``). Results are written once, at the end, atomically, and the resume state is removed after them,
    so a killed run never leaves results that look complete.

    Args:
        net: a classifier (inputs in ``[0, 1]``), e.g. ``robattr.models.TorchvisionClassifier`` with local weights.
        checkpoint: a robattr training checkpoint (``checkpoints/<run>/last.ckpt``); exclusive with ``net``.
        output_dir: the run's directory (default: the logger's directory, else ``results/``). Without it, a rerun
            resumes the newest unfinished run of the same configuration among the logger's versions.
        num_vis: images in the attack grids (0 disables them).
        num_images: evaluate the first ``num_images`` test images (``None``: all).
        overwrite: replace the finished results (or discard the unfinished state of another configuration) found
            in ``output_dir`` instead of refusing.
        resume: continue the unfinished run of the same configuration found in ``output_dir`` (``False``: start
            over and discard its state).
        save_every_n_batches: save the resume state after every this many batches (0: never).

    Raises:
        ValueError: if neither or both of ``net`` and ``checkpoint`` are given, the checkpoint cannot be used, or an
            integer argument is out of range (``TypeError`` for a wrong type).
    """

    def __init__(
        self,
        net: nn.Module | None = None,
        checkpoint: str | None = None,
        output_dir: str | None = None,
        num_vis: int = 8,
        num_images: int | None = None,
        overwrite: bool = False,
        resume: bool = True,
        save_every_n_batches: int = 1,
    ) -> None:
        super().__init__()
        if (net is None) == (checkpoint is None):
            given = type(net).__name__ if net is not None else None
            raise ValueError(
                f"Expected exactly one of `net` and `checkpoint`, but got net={given} and checkpoint={checkpoint!r}"
            )
        check_int("num_vis", num_vis, minimum=0)
        check_optional_int("num_images", num_images, minimum=1)
        check_bool("overwrite", overwrite)
        check_bool("resume", resume)
        check_int("save_every_n_batches", save_every_n_batches, minimum=0)
        self.save_hyperparameters(ignore=["net"])
        if checkpoint is not None:
            self.net, config = _load_classifier(checkpoint)
            self.net_text = f"checkpoint '{checkpoint}' ({net_summary(config)})"
        else:
            check_finite_weights(net, f"`net` {type(net).__name__}")
            self.net = make_switchable(net).eval()
            self.net_text = f"`net` {type(net).__name__}"
        self.net.requires_grad_(False)
        self.checkpoint, self.output_dir, self.num_vis = checkpoint, output_dir, num_vis
        self.num_images, self.overwrite, self.resume = num_images, overwrite, resume
        self.save_every_n_batches = save_every_n_batches
        self.images_evaluated = SumMetric()
        self.run_dir: Path | None = None
        self.monitor = EvaluationMonitor(show_bar=False, rank_zero=False)
        self._state: RunState | None = None
        self._resume_shard: dict[str, Any] | None = None
        self._skip_until, self._saved_next = 0, 0
        self._pending_rng: dict[str, Any] | None = None
        self._resumed_at: list[int] = []
        self._fingerprint_description: dict[str, Any] = {}
        self._started = ""

    def train(self, mode: bool = True) -> EvaluationModule:
        super().train(mode)
        self.net.eval()
        return self

    # --- subclass hooks -------------------------------------------------------------------------------------------

    def evaluate_batch(self, x: Tensor, y: Tensor, valid: Tensor, batch_idx: int) -> None:
        """Update the job's metrics with one batch; ``valid`` ``(N,)`` is False for DDP padding duplicates."""
        raise NotImplementedError

    def result_rows(self) -> list[dict[str, Any]]:
        """The results table (rows of plain values), computed from the synced metrics at the end of the epoch."""
        raise NotImplementedError

    def result_metadata(self) -> dict[str, Any]:
        """Job-specific entries of the results' metadata (``k``, radii, ...), next to the base's."""
        return {}

    # --- helpers for subclasses -----------------------------------------------------------------------------------

    def phase(self, name: str, n_images: int) -> Any:
        """Context manager around one method / attack of a batch: progress, a summary line, a prompt stop."""
        return self.monitor.phase(name, n_images)

    def logits(self, x: Tensor, batch_idx: int | None = None) -> Tensor:
        """The classifier's logits on ``x`` (no gradient), refused when any is NaN or infinite.

        Raises:
            ValueError: naming the checkpoint (or net) and the batch.
        """
        with torch.no_grad():
            out = self.net(x)
        if not torch.isfinite(out).all():
            bad = int((~torch.isfinite(out)).any(1).sum()) if out.dim() == 2 else -1
            where = f"test batch {batch_idx + 1}" if batch_idx is not None else "the probe images"
            raise ValueError(
                f"Expected the classifier of {self.net_text} to give finite logits, but got non-finite logits for "
                f"{bad} of {x.shape[0]} images of {where}; a model with NaN or infinite outputs cannot be evaluated "
                "(its maps would score as perfectly robust): use an earlier checkpoint or train again"
            )
        return out

    # --- start-up -------------------------------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        """Apply the image budget, check the classifier against the data and prepare ``output_dir`` (all ranks)."""
        if stage != "test":
            return
        datamodule = self.trainer.datamodule
        self._apply_image_budget(datamodule)
        self._check_fits_data(datamodule)
        self._prepare_run_dir(datamodule)

    def _apply_image_budget(self, datamodule: Any) -> None:
        if self.num_images is None:
            return
        test_set = getattr(datamodule, "test_set", None)
        if test_set is None:
            raise ValueError(
                "Expected a datamodule with a `test_set` (a robattr datamodule) for `num_images`, but got "
                f"{type(datamodule).__name__ if datamodule is not None else None}"
            )
        full = test_set.dataset if isinstance(test_set, _FirstImages) else test_set
        if self.num_images > len(full):
            raise ValueError(
                f"Expected `num_images` to be at most the {len(full)} images of the {type(datamodule).__name__} test "
                f"set, but got {self.num_images}"
            )
        datamodule.test_set = _FirstImages(full, self.num_images)

    def _check_fits_data(self, datamodule: Any) -> None:
        test_set = getattr(datamodule, "test_set", None)
        num_classes = getattr(datamodule, "num_classes", None)
        if test_set is None or len(test_set) == 0:
            return
        data = type(datamodule).__name__
        first = [test_set[i][0] for i in range(min(2, len(test_set)))]
        shape = tuple(first[0].shape)
        param = next(self.net.parameters(), None)
        probe = torch.stack(first).to(param.device if param is not None else "cpu")
        try:
            with torch.no_grad():
                out = self.net(probe)
        except RuntimeError as error:
            raise ValueError(
                f"Expected the classifier to accept the images of the configured data, but {self.net_text} fails on "
                f"the {data} images of shape {shape} ({_first_line(error)})"
            ) from error
        if out.dim() != 2 or (num_classes is not None and out.shape[1] != num_classes):
            raise ValueError(
                f"Expected the classifier to have one output per class of the configured data ({data}: {num_classes} "
                f"classes of images {shape}), but {self.net_text} gives outputs of shape {tuple(out.shape[1:])}"
            )
        self.logits(probe)

    def _description(self, datamodule: Any) -> dict[str, Any]:
        """Everything that decides the numbers: job arguments, weights, images, precision (the resume fingerprint)."""
        job = {k: v for k, v in self.hparams.items() if k not in NOT_IN_FINGERPRINT and k != "_instantiator"}
        data = {"class_path": f"{type(datamodule).__module__}.{type(datamodule).__qualname__}"} if datamodule else {}
        for key, value in vars(datamodule).items() if datamodule is not None else ():
            plain = (type(None), bool, int, float, str, Path)
            if not key.startswith("_") and (
                isinstance(value, plain)
                or (isinstance(value, (list, tuple)) and all(isinstance(v, plain) for v in value))
            ):
                data[key] = value
        return describe(
            {
                "job": job,
                "weights_sha256": sha256_tensors(self.net.state_dict().items()),
                "data": data,
                "precision": str(self.trainer.precision),
            }
        )

    def _default_run_dir(self, fp: str) -> Path:
        """The logger's directory, or the newest unfinished run of this configuration among its versions."""
        log_dir = getattr(self.logger, "log_dir", None) if self.logger is not None else None
        if not log_dir:
            return Path("results")
        current = Path(log_dir)
        siblings = sorted(
            (p for p in current.parent.glob("version_*") if p != current and p.name[8:].isdigit()),
            key=lambda p: int(p.name[8:]),
            reverse=True,
        )
        for candidate in siblings:
            state = RunState(candidate, self.global_rank, self.trainer.world_size, fp, None)
            if not any((candidate / f).exists() for f in RESULT_FILES) and state.exists():
                try:
                    if not state.check():
                        return candidate
                except ValueError:
                    continue
        return current

    def _prepare_run_dir(self, datamodule: Any) -> None:
        description = self._description(datamodule)
        fp = fingerprint(description)
        if self.output_dir is not None:
            out = Path(self.output_dir)
        else:
            out = self._default_run_dir(fp) if self.trainer.is_global_zero else Path()
            out = Path(self.trainer.strategy.broadcast(str(out), src=0))
        check_writable_dir("output_dir", out)
        state = RunState(out, self.global_rank, self.trainer.world_size, fp, description)
        finished = [name for name in RESULT_FILES if (out / name).exists()]
        discard, self._resume_shard = False, None
        if finished:
            if not self.overwrite:
                raise FileExistsError(
                    f"Expected `output_dir` to hold no finished results, but got '{out}' with "
                    f"{', '.join(finished)}{self._finished_note(out)}; a second run never replaces a first: give "
                    "another `output_dir`, or `overwrite: true` to replace them"
                )
            discard = True
        elif state.exists():
            reasons = state.check()
            if reasons and not self.overwrite:
                raise ValueError(
                    f"Expected `output_dir` to hold no unfinished run or one of this configuration, but got '{out}', "
                    f"whose resume state cannot be continued: {'; '.join(reasons)}; give another `output_dir`, or "
                    "`overwrite: true` to discard that state"
                )
            if reasons or not self.resume:
                discard = True
            else:
                self._resume_shard = state.load()
        self.trainer.strategy.barrier("robattr_run_dir_checked")
        if discard and self.trainer.is_global_zero:
            for name in RESULT_FILES:
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / GRID_DIR, ignore_errors=True)
            state.discard()
        self.trainer.strategy.barrier("robattr_run_dir_ready")
        self.run_dir, self._state = out, state
        self._fingerprint_description = description

    @staticmethod
    def _finished_note(out: Path) -> str:
        try:
            metadata, _ = read_results(out / "results.json")
            return f" (finished {metadata['date']})" if "date" in metadata else ""
        except Exception:  # an older or foreign file: the names say enough
            return ""

    def on_test_start(self) -> None:
        """Restore the resume state (on the job's device) and start the progress display."""
        bar = self.trainer.progress_bar_callback is not None
        self.monitor = EvaluationMonitor(
            show_bar=bar, rank_zero=self.trainer.is_global_zero, external_stop=lambda: self.trainer.received_sigterm
        )
        self._started = now()
        self._skip_until = self._saved_next = 0
        self._pending_rng, self._resumed_at = None, []
        shard = self._resume_shard
        if shard is not None:
            RunState.restore_metrics(self, shard)
            self._skip_until = self._saved_next = int(shard["next_batch"])
            self._pending_rng = shard["rng"]
            self._resumed_at = [*shard.get("resumed_at", []), self._skip_until]
            self._started = shard.get("started", self._started)
        total = self._num_batches()
        loader = self._loader()
        images = len(loader.dataset) if loader is not None and hasattr(loader.dataset, "__len__") else "?"
        resumed = f", resuming after batch {self._skip_until}" if shard is not None else ""
        rank_zero_info(
            f"Evaluating {images} test images in {total} batch{'es' if total != 1 else ''} with {self.net_text} into "
            f"'{self.run_dir}'{resumed}"
        )

    # --- the test loop --------------------------------------------------------------------------------------------

    def _loader(self) -> Any:
        loaders = self.trainer.test_dataloaders if self._trainer is not None else None
        return loaders[0] if isinstance(loaders, (list, tuple)) else loaders

    def _num_batches(self) -> int | None:
        counts = self.trainer.num_test_batches
        total = counts[0] if isinstance(counts, (list, tuple)) and counts else counts
        return int(total) if isinstance(total, (int, float)) and total != float("inf") else None

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        if batch_idx < self._skip_until:  # finished before the run was stopped: its states are restored
            return
        if self._pending_rng is not None:  # the generators as the uninterrupted run had them at this batch
            set_rng_states(self._pending_rng)
            self._pending_rng = None
        x, y = batch[0], batch[1]
        snapshot = (metric_states(self), rng_states()) if self.save_every_n_batches else None
        valid = self.valid_mask(x.shape[0], batch_idx)
        try:
            with self.monitor.batch(batch_idx, self._num_batches()), torch.enable_grad():
                self.evaluate_batch(x, y, valid, batch_idx)
        except Interrupted as error:
            saved = self._save_interrupted(batch_idx, snapshot)
            stopped = Interrupted(f"{error}. {saved}")
            stopped.signum = getattr(error, "signum", None)  # type: ignore[attr-defined]
            raise stopped from None
        self.images_evaluated.update(valid.sum())
        total = self._num_batches()
        last = total is not None and batch_idx + 1 >= total
        if self.save_every_n_batches and ((batch_idx + 1) % self.save_every_n_batches == 0 or last):
            self._save_state(batch_idx + 1)

    def _save_state(self, next_batch: int, snapshot: tuple[Any, Any] | None = None) -> None:
        if self._state is None:
            return
        metrics, rng = snapshot if snapshot is not None else (None, None)
        extra = {"resumed_at": self._resumed_at, "started": self._started}
        self._state.save(next_batch, self, rng=rng, metrics=metrics, extra=extra)
        self._saved_next = next_batch

    def _save_interrupted(self, batch_idx: int, snapshot: tuple[Any, Any] | None) -> str:
        if self._state is None or self.run_dir is None:
            return "Nothing was saved"
        if snapshot is not None and batch_idx > self._saved_next:
            self._save_state(batch_idx, snapshot)
        if self._saved_next == 0:
            return "No batch was finished, so nothing was saved"
        return (
            f"The state after {self._saved_next} finished batches is saved in '{self.run_dir / STATE_DIR}': run the "
            "same command again to continue"
        )

    def valid_mask(self, n: int, batch_idx: int) -> Tensor:
        """False for the duplicates a padding ``DistributedSampler`` appended to this rank's share of the test set.

        The padded index list is ``range(len(dataset))`` followed by duplicates, and rank ``r`` of ``W`` takes
        positions ``r, r + W, ...``; the ``j``-th sample of batch ``b`` sits at position ``r + (b * B + j) * W``.
        """
        valid = torch.ones(n, dtype=torch.bool, device=self.device)
        loader = self._loader()
        sampler = getattr(loader, "sampler", None)
        if not isinstance(sampler, DistributedSampler) or sampler.drop_last:
            return valid
        position = (
            sampler.rank + (batch_idx * loader.batch_size + torch.arange(n, device=self.device)) * sampler.num_replicas
        )
        return position < len(sampler.dataset)

    # --- the results ----------------------------------------------------------------------------------------------

    def on_test_epoch_end(self) -> None:
        rows = self.result_rows()  # every rank computes: the metrics sync here
        images = int(self.images_evaluated.compute())
        if self.trainer.is_global_zero:
            self.write_results(rows, images_evaluated=images)
            self.log_rows(rows)
            if self._state is not None:
                self._state.discard()  # after the results: a kill in between leaves a resumable run, never none

    def metadata(self, **extra: Any) -> dict[str, Any]:
        """What produced the results: checkpoint and hash, configuration, image budget, versions, dates."""
        config: Any = None
        for callback in self.trainer.callbacks if self._trainer is not None else []:
            if isinstance(callback, SaveConfigCallback):
                config = callback.config.as_dict()
        checkpoint = Path(self.checkpoint).resolve() if self.checkpoint is not None else None
        return {
            "status": "complete",
            "job": f"{type(self).__module__}.{type(self).__qualname__}",
            "checkpoint": str(checkpoint) if checkpoint is not None else None,
            "checkpoint_sha256": sha256_file(checkpoint) if checkpoint is not None else None,
            "net": self.net_text,
            "weights_sha256": self._fingerprint_description.get("weights_sha256"),
            "num_images": self.num_images,
            **extra,
            **self.result_metadata(),
            "world_size": self.trainer.world_size if self._trainer is not None else 1,
            "resumed_at_batch": self._resumed_at,
            "fingerprint": fingerprint(self._fingerprint_description) if self._fingerprint_description else None,
            "versions": versions(),
            "started": self._started,
            "date": now(),
            "config": config if config is not None else describe(dict(self.hparams)),
        }

    def results_dir(self) -> Path:
        """The run's directory (resolved at start-up; before that, ``output_dir`` or ``results/``)."""
        if self.run_dir is not None:
            return self.run_dir
        return Path(self.output_dir) if self.output_dir is not None else Path("results")

    def write_results(self, rows: list[dict[str, Any]], stem: str = "results", **extra: Any) -> Path:
        """Write ``rows`` with :meth:`metadata` to ``<run dir>/<stem>.csv`` and ``.json`` and print them as a table."""
        out = self.results_dir()
        out.mkdir(parents=True, exist_ok=True)
        path = write_results(out, rows, self.metadata(**extra), stem)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        rank_zero_info(format_table(rows, columns) + f"\nResults written to {out / stem}.csv and .json")
        return path

    def log_rows(self, rows: list[dict[str, Any]]) -> None:
        """Every numeric cell as a TensorBoard scalar ``test/<text cells joined by '/'>/<column>``."""
        experiment = getattr(self.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_scalar"):
            return
        for row in rows:
            prefix = "/".join(str(v) for v in row.values() if isinstance(v, str) and v != "-")
            for key, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    experiment.add_scalar(f"test/{prefix}/{key}", value, self.global_step)

    def log_grid(self, tag: str, images: Tensor, nrow: int) -> None:
        """Log ``(M, 3, H, W)`` images in ``[0, 1]`` as one TensorBoard grid (rank zero, when a logger exists)."""
        experiment = getattr(self.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_image") or not self.trainer.is_global_zero:
            return
        grid = torchvision.utils.make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, pad_value=1.0)
        experiment.add_image(tag, grid, self.global_step)

    def save_picture(self, tag: str, picture: Tensor) -> Path | None:
        """Save a ``(3, H, W)`` picture as ``<run dir>/grids/<tag>.png`` (atomically) and log it to TensorBoard.

        Rank zero only; returns the path (``None`` on other ranks).
        """
        if self._trainer is not None and not self.trainer.is_global_zero:
            return None
        experiment = getattr(self.logger, "experiment", None) if self._trainer is not None else None
        if experiment is not None and hasattr(experiment, "add_image"):
            experiment.add_image(tag, picture.clamp(0, 1), self.global_step)
        path = self.results_dir() / GRID_DIR / f"{tag.replace('/', '_')}.png"
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(f: io.BufferedWriter) -> None:
            torchvision.utils.save_image(picture.clamp(0, 1), f, format="png")

        write_atomic(path, write)
        return path


__all__ = [
    "EvaluationModule",
    "check_finite_weights",
    "format_table",
    "load_classifier",
    "net_from_config",
    "read_checkpoint",
]
