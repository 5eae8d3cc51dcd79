"""A slim torchmetrics-style tester for robattr metrics, and a runner for functions in several gloo processes.

- :func:`check_metric_class`: a metric updated batch by batch (with an optional ``valid`` mask) gives the same
  ``compute()`` as the functional reference on the concatenation of the valid samples; ``forward`` returns the
  batch value and still accumulates; ``reset`` clears; the metric survives pickling and ``clone``.
- :func:`run_in_processes`: run ``fn(rank, world_size, *args)`` in ``world_size`` processes spawned on CPU, each
  joined to a ``gloo`` process group on a free localhost port, and return the per-rank results.
"""

from __future__ import annotations

import os
import pickle
import re
import socket
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor
from torchmetrics import Metric


def whole(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern that matches exactly ``message``, from start to end."""
    return f"^{re.escape(message)}$"


def check_metric_class(
    metric: Metric,
    reference: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    valid: Tensor | None = None,
    num_batches: int = 3,
    atol: float = 1e-6,
) -> None:
    """Check a fresh ``metric`` against ``reference(*inputs_of_valid_samples)`` (the mean over samples)."""
    n = inputs[0].shape[0]
    keep = torch.ones(n, dtype=torch.bool) if valid is None else valid
    expected = reference(*(x[keep] for x in inputs))
    bounds = torch.linspace(0, n, num_batches + 1).round().long().tolist()
    for start, stop in zip(bounds[:-1], bounds[1:]):
        batch = [x[start:stop] for x in inputs]
        if valid is None:
            metric.update(*batch)
        else:
            metric.update(*batch, valid=valid[start:stop])
    torch.testing.assert_close(metric.compute().double(), expected.double(), atol=atol, rtol=0, equal_nan=True)

    clone = pickle.loads(pickle.dumps(metric))
    torch.testing.assert_close(clone.compute().double(), expected.double(), atol=atol, rtol=0, equal_nan=True)

    metric.reset()
    first = [x[: bounds[1]] for x in inputs]
    batch_value = metric(*first)  # forward: value of this batch alone, and accumulated
    torch.testing.assert_close(batch_value.double(), reference(*first).double(), atol=atol, rtol=0, equal_nan=True)
    torch.testing.assert_close(metric.compute(), batch_value, atol=atol, rtol=0, equal_nan=True)
    assert metric.clone().compute().shape == ()
    metric.reset()
    assert int(metric.total) == 0 and float(metric.score_sum) == 0.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, world_size: int, port: int, fn: Callable[..., Any], args: tuple, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        result = fn(rank, world_size, *args)
        torch.save(result, os.path.join(out_dir, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def run_in_processes(fn: Callable[..., Any], *args: Any, world_size: int = 2) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` spawned CPU processes joined by gloo; return results.

    ``fn`` and ``args`` must be picklable (``fn`` a module-level function of an importable module).
    """
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_entry, args=(world_size, _free_port(), fn, args, out_dir), nprocs=world_size, join=True)
        return [torch.load(os.path.join(out_dir, f"{r}.pt"), weights_only=False) for r in range(world_size)]


MetricSpec = tuple[type[Metric], dict[str, Any]]


def shard_compute(
    rank: int,
    world_size: int,
    groups: Sequence[tuple[Sequence[MetricSpec], Sequence[Tensor]]],
    valid: Tensor,
    sizes: Sequence[int],
) -> list[Tensor]:
    """DDP worker for :func:`run_in_processes`: for each ``(metric specs, inputs)`` group, build every metric
    ``cls(**kwargs)`` in this process, update it with this rank's contiguous shard of ``sizes[rank]`` samples (in two
    batches when it can) and return each metric's synced ``compute()``, in order.

    Metrics are built here, not passed in: a metric pickled into ``torch.multiprocessing.spawn`` has its state
    tensors moved to shared memory, so every rank would add into the same ``score_sum``.
    """
    if len(sizes) != world_size:
        raise ValueError(f"Expected one shard size per rank, but got {list(sizes)} for {world_size} ranks")
    start = sum(sizes[:rank])
    stop = start + sizes[rank]
    middle = (start + stop) // 2
    results = []
    for specs, inputs in groups:
        for cls, kwargs in specs:
            metric = cls(**kwargs)
            for lo, hi in ((start, middle), (middle, stop)):
                if hi > lo:
                    metric.update(*(x[lo:hi] for x in inputs), valid=valid[lo:hi])
            results.append(metric.compute())
    return results
