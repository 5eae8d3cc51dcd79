"""Resumable evaluations: the state of an unfinished run, saved per process, restored exactly.

After every few test batches each process writes ``<output_dir>/resume/rank<r>.pt`` atomically: the raw states of
every torchmetrics metric of the job (sum and count states, so a restored metric continues exactly where it
stopped), the random-number-generator states (torch CPU and CUDA, NumPy, Python) at the start of the next batch,
the index of that batch, the world size and the fingerprint of the configuration. Rerunning the same command skips
the finished batches without computing them, restores the generators before the first batch it computes, and so
ends with exactly the numbers of an uninterrupted run (random attacks draw the same noise), also under DDP, where
each rank resumes from its own shard. State written by another configuration, checkpoint or number of processes is
refused, never mixed in.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from robattr.metrics import MeanScore
    >>> job = torch.nn.ModuleDict({"acc": MeanScore()})
    >>> job["acc"].update(torch.tensor([1.0, 0.0]))
    >>> state = RunState(Path(tempfile.mkdtemp()), rank=0, world_size=1, fingerprint="f", description={})
    >>> state.save(next_batch=1, module=job)
    >>> fresh = torch.nn.ModuleDict({"acc": MeanScore()})
    >>> state.restore_metrics(fresh, state.load())
    >>> fresh["acc"].compute()
    tensor(0.5000)
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics import Metric

from robattr.evaluation.results import differences, now, write_atomic

STATE_DIR = "resume"
FORMAT = 1


def metric_states(module: nn.Module) -> dict[str, dict[str, Any]]:
    """Copies (on the CPU) of the states of every torchmetrics metric in ``module``, by module name."""
    out: dict[str, dict[str, Any]] = {}
    for name, metric in module.named_modules():
        if isinstance(metric, Metric):
            states: dict[str, Any] = {}
            for key in metric._defaults:
                value = getattr(metric, key)
                if isinstance(value, list):
                    states[key] = [t.detach().cpu().clone() for t in value]
                else:
                    states[key] = value.detach().cpu().clone()
            out[name] = {"states": states, "update_count": int(metric._update_count)}
    return out


def rng_states() -> dict[str, Any]:
    """The states of every random-number generator a job may draw from (torch CPU / CUDA, NumPy, Python)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if cuda else None,
        "numpy": (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)),
        "python": (version, list(internal), gauss_next),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned."""
    torch.set_rng_state(states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


class RunState:
    """The resume shards of one evaluation run in ``<directory>/resume``: written, found, checked and restored.

    Args:
        directory: the run's output directory.
        rank: this process's global rank.
        world_size: number of processes of the run.
        fingerprint: hash of everything that decides the numbers (configuration, weights, images, precision).
        description: the description the fingerprint was computed from (stored to name what differs).
    """

    def __init__(self, directory: Path, rank: int, world_size: int, fingerprint: str, description: Any) -> None:
        self.directory = Path(directory) / STATE_DIR
        self.rank, self.world_size = rank, world_size
        self.fingerprint, self.description = fingerprint, description

    def shard_path(self, rank: int | None = None) -> Path:
        return self.directory / f"rank{self.rank if rank is None else rank}.pt"

    def exists(self) -> bool:
        """Whether any shard is there."""
        return self.directory.is_dir() and any(self.directory.glob("rank*.pt"))

    def save(
        self,
        next_batch: int,
        module: nn.Module,
        rng: dict[str, Any] | None = None,
        metrics: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Write this rank's shard atomically.

        It holds the metric states of ``module`` (or ``metrics`` captured earlier), the generator states ``rng``
        (default: now), the index of the next batch to compute and ``extra``.
        """
        shard = {
            **(extra or {}),
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "description": self.description,
            "world_size": self.world_size,
            "rank": self.rank,
            "next_batch": next_batch,
            "metrics": metric_states(module) if metrics is None else metrics,
            "rng": rng_states() if rng is None else rng,
            "written": now(),
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.shard_path(), lambda f: torch.save(shard, f))

    def read(self, rank: int | None = None) -> dict[str, Any]:
        """A shard as saved.

        Raises:
            ValueError: naming the file when it cannot be read, and saying how to start afresh.
        """
        path = self.shard_path(rank)
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # truncated by a failing disk, edited, another format: say what to do
            raise ValueError(
                f"Expected '{path}' to be a robattr resume state, but it cannot be read ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''}); delete '{self.directory}' to start this run "
                "afresh"
            ) from error

    def check(self) -> list[str]:
        """Why the shards there cannot be resumed by this run (empty when they can).

        Reasons: another fingerprint (with the differing configuration paths), another number of processes, or
        missing shards.
        """
        ranks = sorted(int(p.stem[len("rank") :]) for p in self.directory.glob("rank*.pt") if p.stem[4:].isdigit())
        first = self.read(ranks[0])
        reasons = []
        if first.get("fingerprint") != self.fingerprint:
            what = ", ".join(differences(first.get("description"), self.description)) or "unknown"
            reasons.append(f"it was written by another configuration, checkpoint or image set (differs in: {what})")
        elif first.get("world_size") != self.world_size:
            reasons.append(f"it was written by {first.get('world_size')} processes and this run has {self.world_size}")
        elif ranks != list(range(self.world_size)):
            reasons.append(f"it holds the shards of ranks {ranks} of {self.world_size}")
        return reasons

    def load(self) -> dict[str, Any]:
        """This rank's shard (after :meth:`check` found nothing wrong)."""
        return self.read()

    @staticmethod
    def restore_metrics(module: nn.Module, shard: dict[str, Any]) -> None:
        """Put the saved metric states back into the metrics of ``module`` (on their devices).

        Raises:
            ValueError: if the saved metrics are not those of ``module``.
        """
        metrics = {name: m for name, m in module.named_modules() if isinstance(m, Metric)}
        saved = shard["metrics"]
        if set(metrics) != set(saved):
            raise ValueError(
                f"Expected the resume state to hold the metrics {sorted(metrics)}, but got {sorted(saved)}"
            )
        for name, metric in metrics.items():
            device = metric.device
            for key, value in saved[name]["states"].items():
                restored: Tensor | list[Tensor] = (
                    [t.to(device) for t in value] if isinstance(value, list) else value.to(device)
                )
                setattr(metric, key, restored)
            metric._update_count = saved[name]["update_count"]
            metric._computed = None

    def discard(self) -> None:
        """Remove every shard (the run finished, or the user asked to start over)."""
        shutil.rmtree(self.directory, ignore_errors=True)


__all__ = ["STATE_DIR", "RunState", "metric_states", "rng_states", "set_rng_states"]
