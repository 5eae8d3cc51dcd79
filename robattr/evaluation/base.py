"""The base of ``evaluate.py`` jobs: load a classifier, run ``test``, write result tables and image grids."""

from __future__ import annotations

import csv
import importlib
import json
import os
from pathlib import Path
from typing import Any

import torch
import torchvision
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torch.utils.data import DistributedSampler

from robattr.models import make_switchable


def instantiate(config: dict[str, Any]) -> Any:
    """Build an object from a ``{"class_path": ..., "init_args": {...}}`` dict (nested dicts too)."""
    if not isinstance(config, dict) or "class_path" not in config:
        raise ValueError(f"Expected a dict with a `class_path`, but got {config!r}")
    module, _, name = config["class_path"].rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    args = {
        k: instantiate(v) if isinstance(v, dict) and "class_path" in v else v
        for k, v in config.get("init_args", {}).items()
    }
    return cls(**args)


def load_classifier(checkpoint: str | os.PathLike) -> nn.Module:
    """The ``net`` of a robattr training checkpoint, rebuilt from its saved config, in eval mode, switchable.

    robattr's training modules save their ``net`` argument as a ``class_path`` / ``init_args`` dict (LightningCLI)
    or, when built in Python, as the module itself; both are accepted.

    Raises:
        ValueError: if the file does not exist or holds no robattr classifier.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise ValueError(f"Expected `checkpoint` to be an existing checkpoint file, but got '{checkpoint}'")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    net_config = ckpt.get("hyper_parameters", {}).get("net")
    if net_config is None:
        raise ValueError(
            f"Expected `checkpoint` to hold a robattr training module with a `net`, but got '{checkpoint}'"
        )
    net = net_config if isinstance(net_config, nn.Module) else instantiate(dict(net_config))
    state = {k[len("net.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    net.load_state_dict(state)
    return make_switchable(net).eval()


class EvaluationModule(LightningModule):
    """Base class of the evaluation jobs run by ``evaluate.py`` (``trainer.test``).

    Holds the classifier (from ``checkpoint`` or a configured ``net``), frozen and always in eval mode. Subclasses
    implement :meth:`evaluate_batch` and :meth:`result_rows`; this class handles DDP padding (the distributed
    sampler pads the test set with duplicates so every rank gets equal batches: :meth:`valid_mask` marks them so
    metrics never count a sample twice) and writes the results as CSV and JSON next to the TensorBoard logs.

    Args:
        net: a classifier (inputs in ``[0, 1]``), e.g. ``robattr.models.TorchvisionClassifier`` with a local weight file.
        checkpoint: a robattr training checkpoint (``checkpoints/<run>/last.ckpt``); exclusive with ``net``.
        output_dir: where the results go (default: the logger's directory, else ``results/``).
        num_vis: images in the TensorBoard grids (0 disables them).

    Raises:
        ValueError: if neither or both of ``net`` and ``checkpoint`` are given, or the checkpoint does not exist.
    """

    def __init__(
        self,
        net: nn.Module | None = None,
        checkpoint: str | None = None,
        output_dir: str | None = None,
        num_vis: int = 8,
    ) -> None:
        super().__init__()
        if (net is None) == (checkpoint is None):
            raise ValueError(
                f"Expected exactly one of `net` and `checkpoint`, but got net={type(net).__name__ if net is not None else None} and checkpoint={checkpoint!r}"
            )
        if num_vis < 0:
            raise ValueError(f"Expected `num_vis` to be a non-negative integer, but got {num_vis}")
        self.net = load_classifier(checkpoint) if checkpoint is not None else make_switchable(net).eval()
        self.net.requires_grad_(False)
        self.checkpoint = checkpoint
        self.output_dir = output_dir
        self.num_vis = num_vis

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

    # --- machinery ------------------------------------------------------------------------------------------------

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        with torch.enable_grad():
            self.evaluate_batch(x, y, self.valid_mask(x.shape[0], batch_idx), batch_idx)

    def valid_mask(self, n: int, batch_idx: int) -> Tensor:
        """False for the duplicates a padding ``DistributedSampler`` appended to this rank's share of the test set.

        The padded index list is ``range(len(dataset))`` followed by duplicates, and rank ``r`` of ``W`` takes
        positions ``r, r + W, ...``; the ``j``-th sample of batch ``b`` sits at position ``r + (b * B + j) * W``.
        """
        valid = torch.ones(n, dtype=torch.bool, device=self.device)
        loaders = self.trainer.test_dataloaders if self._trainer is not None else None
        loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
        sampler = getattr(loader, "sampler", None)
        if not isinstance(sampler, DistributedSampler) or sampler.drop_last:
            return valid
        position = (
            sampler.rank + (batch_idx * loader.batch_size + torch.arange(n, device=self.device)) * sampler.num_replicas
        )
        return position < len(sampler.dataset)

    def on_test_epoch_end(self) -> None:
        rows = self.result_rows()  # every rank computes: the metrics sync here
        if self.trainer.is_global_zero:
            self.write_results(rows)
            self.log_rows(rows)

    def log_rows(self, rows: list[dict[str, Any]]) -> None:
        """Every numeric cell as a TensorBoard scalar ``test/<text cells joined by '/'>/<column>``."""
        experiment = getattr(self.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_scalar"):
            return
        for row in rows:
            prefix = "/".join(str(v) for v in row.values() if isinstance(v, str) and v != "-")
            for key, value in row.items():
                if isinstance(value, (int, float)):
                    experiment.add_scalar(f"test/{prefix}/{key}", value, self.global_step)

    def results_dir(self) -> Path:
        if self.output_dir is not None:
            return Path(self.output_dir)
        log_dir = self.logger.log_dir if self.logger is not None and getattr(self.logger, "log_dir", None) else None
        return Path(log_dir) if log_dir else Path("results")

    def write_results(self, rows: list[dict[str, Any]], stem: str = "results") -> Path:
        """Write ``rows`` to ``<results_dir>/<stem>.csv`` and ``.json`` and print them as a table; returns the CSV path."""
        out = self.results_dir()
        out.mkdir(parents=True, exist_ok=True)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with open(out / f"{stem}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        (out / f"{stem}.json").write_text(json.dumps(rows, indent=2))
        rank_zero_info(format_table(rows, columns) + f"\nResults written to {out / stem}.csv and .json")
        return out / f"{stem}.csv"

    def log_grid(self, tag: str, images: Tensor, nrow: int) -> None:
        """Log ``(M, 3, H, W)`` images in ``[0, 1]`` as one TensorBoard grid (rank zero, when a logger exists)."""
        experiment = getattr(self.logger, "experiment", None)
        if experiment is None or not hasattr(experiment, "add_image") or not self.trainer.is_global_zero:
            return
        grid = torchvision.utils.make_grid(images.detach().float().cpu().clamp(0, 1), nrow=nrow, pad_value=1.0)
        experiment.add_image(tag, grid, self.global_step)


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table of ``rows`` (floats with 4 decimals)."""
    cells = [
        [f"{r.get(c, ''):.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns] for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths))
    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(row) for row in cells)])
