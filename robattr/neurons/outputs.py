"""Output directories of the neuron jobs: checked before any compute, never silently replaced, written atomically.

Rules (see ``docs/neurons.md``, "Results"):

- :func:`open_output_dir` runs before any compute. It creates ``out_dir`` and proves it writable (a temporary file
  is created and removed), so a wrong path fails in the first second, not after an hour of dissection.
- Each job marks its directory with ``robattr_job.json``: the job (``dissect``, ``noise`` or ``attack``), its status
  (``running`` until the last result file is in place, then ``complete``) and its metadata (model class and parameter
  hash, layer, probing set, settings, robattr / torch / lightning versions, date, host, process).
- A directory holding another job's results is refused, whatever ``overwrite`` says: a ``noise`` job never writes into
  a ``dissect`` directory.
- A directory holding the *complete* results of the same job is refused unless ``overwrite=True`` (``--overwrite
  true``); then the earlier results are removed first, so no stale file survives. Results of the same job left by a
  run that did not finish (status ``running``, process gone) are replaced without asking: nothing complete is lost.
  Result files that robattr did not mark (``metrics.json``, ``clean/``, ``corrupted/`` or ``tensorboard/`` of an older
  version, or someone else's) are treated as complete results. ``poisoned/`` is managed by
  :func:`robattr.neurons.storage.prepare_out_dir` (robattr's own images are replaced, anything else is refused).
- Every file is written to a temporary name in its own directory and moved into place with :func:`os.replace`
  (:func:`atomic_file`), so a kill leaves the previous file or the new one, never a torn one.

Example:
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "run")
    >>> open_output_dir(out, "dissect", {"layer": "pool"})
    >>> with atomic_file(os.path.join(out, "metrics.json")) as f:
    ...     _ = f.write("{}")
    >>> _ = finish_output_dir(out)
    >>> read_job(out)["status"], read_job(out)["layer"]
    ('complete', 'pool')
    >>> open_output_dir(out, "noise")
    Traceback (most recent call last):
    ...
    ValueError: Expected `output_dir` to be a new directory or one holding results of a 'noise' job, but got '...run' \
holding the results of a 'dissect' job; choose another directory
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

JOB_FILE = "robattr_job.json"
RESULT_NAMES: tuple[str, ...] = ("metrics.json", "clean", "corrupted", "tensorboard")  # what a job leaves behind
JOBS: tuple[str, ...] = ("dissect", "noise", "attack")


@contextmanager
def atomic_file(path: str, mode: str = "w", sync: bool = True, **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on a clean exit move it onto ``path`` (``os.replace``).

    On an exception the temporary file is removed and ``path`` is left as it was. Text mode defaults to UTF-8.
    ``sync`` flushes the data to disk before the move (survives a power cut, not only a kill); many small
    intermediate files (poisoned images) skip it.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, partial = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
        kwargs.setdefault("newline", "")
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def write_json(path: str, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_file(path) as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def versions() -> dict[str, str]:
    """robattr, torch, lightning and Python versions."""
    import lightning
    import torch

    import robattr

    return {
        "robattr": robattr.__version__,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
    }


def read_job(out_dir: str) -> dict[str, Any] | None:
    """The ``robattr_job.json`` of ``out_dir`` (``None`` when there is none).

    Raises:
        ValueError: if the file exists but is not a JSON object naming a job (naming the file).
    """
    path = os.path.join(out_dir, JOB_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            job = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Expected {path!r} to be the job record written by robattr, but reading it failed ({error}); "
            "delete the directory's results or choose another directory"
        ) from error
    if not isinstance(job, dict) or job.get("job") not in JOBS:
        raise ValueError(
            f"Expected {path!r} to be the job record written by robattr, but it names no job; "
            "delete the directory's results or choose another directory"
        )
    return job


def _alive(job: dict[str, Any]) -> bool:
    """Whether the process that wrote a ``running`` record is still running (on this host)."""
    if job.get("host") != socket.gethostname() or not isinstance(job.get("pid"), int):
        return False
    if job["pid"] == os.getpid():
        return True
    try:
        os.kill(job["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_writable(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".robattr-write-check.", dir=out_dir)
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        raise ValueError(
            f"Expected `output_dir` to be a directory robattr can create and write, but got {out_dir!r} "
            f"({type(error).__name__}: {error.strerror or error}); choose another directory or fix its permissions"
        ) from error


def _remove_results(out_dir: str) -> None:
    for name in (*RESULT_NAMES, "config.yaml", JOB_FILE):  # poisoned/ is cleared by storage.prepare_out_dir
        path = os.path.join(out_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def open_output_dir(
    out_dir: str, job: str, metadata: dict[str, Any] | None = None, overwrite: bool = False, mark: bool = True
) -> None:
    """Create and check ``out_dir`` for ``job`` before any compute, then mark it ``running`` (see the module rules).

    Calling it again from the same process (a CLI that checked the directory before writing ``config.yaml``, then
    the job itself) is harmless: the directory is already this run's.

    Args:
        out_dir: the output directory.
        job: ``dissect``, ``noise`` or ``attack``.
        metadata: what produced the results (recorded in ``robattr_job.json``).
        overwrite: replace the complete results of an earlier run of the same job.
        mark: record this run (``False`` for a run that writes no results, only intermediate files such as
            ``poisoned/``: then only the write check and the other-job check apply).

    Raises:
        ValueError: if ``out_dir`` cannot be created or written, holds another job's results, or is being written
            by another running process.
        FileExistsError: if it holds complete results of the same job and ``overwrite`` is false.
    """
    if job not in JOBS:
        raise ValueError(f"Expected `job` to be one of {list(JOBS)}, but got {job!r}")
    _check_writable(out_dir)
    found = read_job(out_dir)
    present = sorted(name for name in RESULT_NAMES if os.path.lexists(os.path.join(out_dir, name)))
    if found is not None and found["job"] != job:
        raise ValueError(
            f"Expected `output_dir` to be a new directory or one holding results of a {job!r} job, but got "
            f"{out_dir!r} holding the results of a {found['job']!r} job; choose another directory"
        )
    if not mark:
        return
    ours = found is not None and found.get("status") == "running" and found.get("pid") == os.getpid()
    if ours and found.get("host") == socket.gethostname():
        return
    if found is not None and found.get("status") == "running" and _alive(found):
        raise ValueError(
            f"Expected `output_dir` to be free, but got {out_dir!r} being written by another {job!r} run "
            f"(process {found.get('pid')} on {found.get('host')}); wait for it or choose another directory"
        )
    complete = (found is not None and found.get("status") == "complete") or (found is None and bool(present))
    if complete and not overwrite:
        what = f"complete results of an earlier {job!r} job" if found is not None else f"results {present}"
        raise FileExistsError(
            f"Expected `output_dir` to hold no earlier results, but got {out_dir!r} with {what}; pass "
            "overwrite=True (--overwrite true) to replace them, or choose another directory"
        )
    if found is not None or present:
        _remove_results(out_dir)  # overwrite asked, or leftovers of a run that did not finish
    record = {
        "job": job,
        "status": "running",
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        **versions(),
        **(metadata or {}),
    }
    write_json(os.path.join(out_dir, JOB_FILE), record)


def finish_output_dir(out_dir: str) -> dict[str, Any]:
    """Mark the run in ``out_dir`` ``complete`` (after its last result file is in place); return its record."""
    record = read_job(out_dir) or {}
    record["status"] = "complete"
    record["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    write_json(os.path.join(out_dir, JOB_FILE), record)
    return record


__all__ = [
    "JOB_FILE",
    "RESULT_NAMES",
    "atomic_file",
    "finish_output_dir",
    "open_output_dir",
    "read_job",
    "versions",
    "write_json",
]
