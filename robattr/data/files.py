"""Reading dataset files so that a truncated or corrupt one is named in the error, with what to do about it.

A dataset copied half-way, a download cut short or a cache written by a killed process otherwise surfaces as a
low-level exception that names neither the file nor the remedy (``EOFError`` from gzip, ``OSError: image file is
truncated``, ``OSError: [Errno 22]`` from a torn ``torch.save`` archive, ``UnpicklingError``). Every reader of
:mod:`robattr.data` goes through the helpers below, which raise :class:`CorruptFileError` (a :class:`ValueError`)
naming the file, what was expected, what went wrong and what to do; the low-level exception is kept as the
``__cause__``.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "image_0001.jpg")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"not a jpeg")
    >>> read_rgb(path)
    Traceback (most recent call last):
    ...
    robattr.data.files.CorruptFileError: Expected '...image_0001.jpg' to be a readable image, but reading it failed \
(UnidentifiedImageError: ...); replace it with an intact copy of the dataset (download or extract it again)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image

IMAGE_REMEDY = "replace it with an intact copy of the dataset (download or extract it again)"


class CorruptFileError(ValueError):
    """A dataset file exists but cannot be read: truncated, corrupt, or not in the expected format.

    Args:
        path: the file.
        expected: what the file should be (``"a readable image"``).
        problem: what went wrong (``"reading it failed (EOFError: ...)"``).
        remedy: what to do (``"delete it; it is rebuilt on the next run"``).

    Attributes:
        path: the file, as a string.
    """

    def __init__(self, path: str | Path, expected: str, problem: str, remedy: str) -> None:
        self.path = str(path)
        super().__init__(f"Expected {self.path!r} to be {expected}, but {problem}; {remedy}")


def describe(error: BaseException) -> str:
    """``"TypeName: message"`` of a low-level exception, for the ``problem`` part of a message.

    Example:
        >>> describe(EOFError("Compressed file ended before the end-of-stream marker was reached"))
        'EOFError: Compressed file ended before the end-of-stream marker was reached'
    """
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def read_rgb(path: str | Path, remedy: str = IMAGE_REMEDY) -> Image.Image:
    """Open an image file and decode it fully as RGB (a truncated JPEG fails here, not later in a transform).

    Also serves as the ``loader`` of torchvision's ``ImageFolder`` / ``Flowers102``.

    Raises:
        FileNotFoundError: if the file does not exist (naming it).
        CorruptFileError: if it cannot be decoded (truncated, corrupt, not an image).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected {str(path)!r} to be an image file, but it does not exist; {remedy}")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")  # convert() loads every pixel: truncation is detected here
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptFileError(path, "a readable image", f"reading it failed ({describe(error)})", remedy) from error


def load_tensors(path: str | Path, expected: str, remedy: str) -> Any:
    """``torch.load(path, weights_only=True)`` whose failure names the file and the remedy.

    Raises:
        CorruptFileError: if the file is truncated or is not a ``torch.save`` archive.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:  # torn zip archive (OSError Errno 22, RuntimeError), pickle errors, EOFError
        raise CorruptFileError(path, expected, f"loading it failed ({describe(error)})", remedy) from error


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same directory, then ``os.replace``: a reader (or a later run) sees
    the old file or the whole new one, never a torn one; the temporary file is removed on failure.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, partial)
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


__all__ = ["IMAGE_REMEDY", "CorruptFileError", "atomic_torch_save", "describe", "load_tensors", "read_rgb"]
