"""Result files of the evaluation jobs: atomic writes, run metadata, and a stable description of what produced them.

Every results file says what produced it. ``results.json`` is ``{"metadata": {...}, "rows": [...]}``;
``results.csv`` starts with the same metadata as ``# key: value`` comment lines (JSON values), then the table
(``pandas.read_csv(path, comment="#")`` reads it; so does :func:`read_results`). Files are written to a temporary
file in their own directory and moved into place with :func:`os.replace`, so a reader (or a kill) never sees half
a file.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = write_results(out, [{"attack": "topk", "topk": 0.5}], {"k": 100})
    >>> metadata, rows = read_results(out / "results.csv")
    >>> metadata["k"], rows
    (100, [{'attack': 'topk', 'topk': 0.5}])
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import math
import os
import platform
import tempfile
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor, nn

RESULT_FILES: tuple[str, ...] = ("results.json", "results.csv")


def write_atomic(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through ``write(f)`` into a temporary file next to ``path``, then move it into place.

    The temporary file lives in the target directory (same filesystem, so :func:`os.replace` is an atomic rename)
    and is flushed to disk first: after a kill at any moment, ``path`` holds either its previous content or the new
    one, never a part. The temporary file is removed when ``write`` raises.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> target = Path(tempfile.mkdtemp()) / "a.txt"
        >>> write_atomic(target, lambda f: f.write(b"hello"))
        >>> target.read_text()
        'hello'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """:func:`write_atomic` for text (UTF-8)."""
    write_atomic(path, lambda f: f.write(text.encode()))


def check_writable_dir(name: str, directory: Path) -> None:
    """Create ``directory`` (and its parents) and check that a file can be written there.

    Raises:
        ValueError: naming ``name`` and the directory when it cannot be created or written (not a directory,
            permission denied, read-only filesystem).
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".robattr-write-check.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(
            f"Expected `{name}` to be a directory robattr can write to, but got '{directory}' ({reason})"
        ) from error


def _jsonable(value: Any) -> Any:
    """Plain JSON values: tensors to numbers or lists, non-finite floats to ``None``, paths to strings."""
    if isinstance(value, Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # paths (pathlib or jsonargparse), enums, anything else a config may hold


def write_results(out: Path, rows: list[dict[str, Any]], metadata: dict[str, Any], stem: str = "results") -> Path:
    """Write ``rows`` with ``metadata`` to ``<out>/<stem>.json`` and ``<out>/<stem>.csv`` (atomically); returns the CSV.

    Non-finite numbers (a mean over no sample, the standard error of one sample) are written as JSON ``null`` and
    empty CSV cells.
    """
    rows = [_jsonable(row) for row in rows]
    metadata = _jsonable(metadata)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    for key, value in metadata.items():
        buffer.write(f"# {key}: {json.dumps(value)}\n")
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / f"{stem}.json", json.dumps({"metadata": metadata, "rows": rows}, indent=2))
    write_text_atomic(out / f"{stem}.csv", buffer.getvalue())
    return out / f"{stem}.csv"


def read_results(path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(metadata, rows)`` of a ``results.json`` or ``results.csv`` written by :func:`write_results`.

    CSV cells come back as numbers where they parse as JSON numbers, empty cells as ``None``.

    Raises:
        ValueError: if the file is not a robattr results file.
    """
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, dict) or "rows" not in data:
            raise ValueError(
                f"Expected `path` to be a robattr results.json with `metadata` and `rows`, but got '{path}'"
            )
        return data.get("metadata", {}), data["rows"]
    lines = text.splitlines()
    metadata = {}
    for line in lines:
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        metadata[key] = json.loads(value)
    rows = []
    for row in csv.DictReader(lines[len(metadata) :]):
        rows.append({k: _parse_cell(v) for k, v in row.items()})
    return metadata, rows


def _parse_cell(cell: str) -> Any:
    if cell == "":
        return None
    try:
        value = json.loads(cell)
    except ValueError:
        return cell
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else cell


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table of ``rows`` (floats with 4 decimals, missing or non-finite values as ``-``).

    Example:
        >>> print(format_table([{"a": 0.5, "b": None}], ["a", "b"]))
        a       b
        ------  -
        0.5000  -
    """

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    cells = [[cell(r.get(c)) if c in r else "" for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(row) for row in cells)])


# --- what produced a result -------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_tensors(tensors: Iterable[tuple[str, Tensor]]) -> str:
    """Hex SHA-256 of named tensors (names, dtypes, shapes and bytes): the identity of a set of weights."""
    digest = hashlib.sha256()
    for name, tensor in tensors:
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def describe(value: Any, depth: int = 0) -> Any:
    """A stable, JSON-able description of a configuration value: what a fingerprint is computed from.

    Plain values stay as they are; objects become ``{"class_path": ..., <public attributes>}``; modules and tensors
    are described by their class and a hash of their weights or bytes (never by ``id``), so the same configuration
    gives the same description in every process and every run.

    Example:
        >>> from robattr.attribution import IntegratedGradients
        >>> describe({"ig": IntegratedGradients(n_steps=4)})["ig"]["class_path"]
        'robattr.attribution.integrated_gradients.IntegratedGradients'
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): describe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [describe(v, depth + 1) for v in items]
    if isinstance(value, Tensor):
        return {"tensor": list(value.shape), "dtype": str(value.dtype), "sha256": sha256_tensors([("", value)])}
    cls = type(value)
    path = f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(value, nn.Module):
        return {"class_path": path, "weights_sha256": sha256_tensors(value.state_dict().items())}
    if depth > 6 or not hasattr(value, "__dict__"):
        return {"class_path": path, "repr": repr(value) if "0x" not in repr(value) else path}
    public = {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return {"class_path": path, **{k: describe(v, depth + 1) for k, v in public.items()}}


def fingerprint(description: Any) -> str:
    """Hex SHA-256 of a :func:`describe` output (canonical JSON)."""
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()


def differences(old: Any, new: Any, prefix: str = "", limit: int = 5) -> list[str]:
    """Dotted paths where two descriptions differ (at most ``limit``), e.g. ``['job.k', 'checkpoint_sha256']``.

    Example:
        >>> differences({"job": {"k": 100, "radii": [1]}}, {"job": {"k": 50, "radii": [1]}})
        ['job.k']
    """
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[str] = []
        for key in sorted(set(old) | set(new)):
            found += differences(old.get(key), new.get(key), f"{prefix}{key}.", limit - len(found))
            if len(found) >= limit:
                break
        return found
    return [prefix.rstrip(".") or "(everything)"] if old != new and limit > 0 else []


def versions() -> dict[str, str]:
    """Versions of robattr and the libraries that decide its numbers."""
    out = {"python": platform.python_version()}
    for package in ("robattr", "torch", "lightning", "torchmetrics", "captum"):
        try:
            out[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            module = {"robattr": "robattr", "torch": "torch"}.get(package)
            if module is not None:
                out[package] = getattr(__import__(module), "__version__", "unknown")
    return out


def now() -> str:
    """The current time, ISO 8601 in UTC (seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


__all__ = [
    "RESULT_FILES",
    "check_writable_dir",
    "describe",
    "differences",
    "fingerprint",
    "format_table",
    "now",
    "read_results",
    "sha256_file",
    "sha256_tensors",
    "versions",
    "write_atomic",
    "write_results",
    "write_text_atomic",
]
