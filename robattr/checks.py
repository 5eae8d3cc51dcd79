"""Argument checks shared by every package: one home, one message template, one meaning per exception type.

Every message reads ``Expected `name` to be <what was expected>, but got <value>`` so a test can match it whole and a
user sees the argument and the value they passed. A value of the wrong *type* raises :class:`TypeError` (``k=2.5``,
``k="3"``, ``k=True``); a value of the right type outside its domain raises :class:`ValueError` (``k=0``,
``eps=nan``). Checks run in ``__init__`` so a bad YAML fails at start-up, never at step 10,000.

Example:
    >>> check_int("k", 3, minimum=1)
    >>> check_int("k", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: Expected `k` to be an integer >= 1, but got 0
    >>> check_int("k", 2.5, minimum=1)
    Traceback (most recent call last):
    ...
    TypeError: Expected `k` to be an integer >= 1, but got 2.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor


def is_int(value: object) -> bool:
    """Whether ``value`` is a Python or NumPy integer (``bool`` excluded)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or type(value).__name__ in {"int8", "int16", "int32", "int64", "uint8"}


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number (int or float, ``bool`` excluded)."""
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"in [{minimum}, {maximum}]"
    if minimum is not None:
        return f">= {minimum}"
    if maximum is not None:
        return f"<= {maximum}"
    return ""


def check_int(
    name: str, value: object, minimum: int | None = None, maximum: int | None = None, *, what: str | None = None
) -> None:
    """Check an integer argument, optionally bounded (both bounds inclusive).

    ``what`` replaces the generated description of the expected value (e.g. ``"a non-negative integer"``).

    Raises:
        TypeError: if ``value`` is not an integer.
        ValueError: if it lies outside ``[minimum, maximum]``.
    """
    what = what or f"an integer {_bounds(minimum, maximum)}".rstrip()
    if not is_int(value):
        raise TypeError(f"Expected `{name}` to be {what}, but got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"Expected `{name}` to be {what}, but got {value!r}")


def check_optional_int(
    name: str, value: object, minimum: int | None = None, maximum: int | None = None, *, what: str | None = None
) -> None:
    """:func:`check_int`, with ``None`` allowed."""
    if value is None:
        return
    what = what or f"None or an integer {_bounds(minimum, maximum)}".rstrip()
    if not is_int(value):
        raise TypeError(f"Expected `{name}` to be {what}, but got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"Expected `{name}` to be {what}, but got {value!r}")


def check_real(
    name: str,
    value: object,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    open_min: bool = False,
    open_max: bool = False,
) -> None:
    """Check a finite real number, optionally bounded (``open_min`` / ``open_max`` exclude the bound).

    NaN and infinities are always rejected: they make every comparison false and would pass a plain range check.

    Raises:
        TypeError: if ``value`` is not a real number.
        ValueError: if it is not finite or lies outside its bounds.

    Example:
        >>> check_real("eps", float("nan"), 0.0, 1.0)
        Traceback (most recent call last):
        ...
        ValueError: Expected `eps` to be a finite number in [0.0, 1.0], but got nan
    """
    lo = "" if minimum is None else ("(" if open_min else "[") + str(minimum)
    hi = "" if maximum is None else str(maximum) + (")" if open_max else "]")
    if minimum is not None and maximum is not None:
        what = f"a finite number in {lo}, {hi}"
    elif minimum is not None:
        what = f"a finite number {'>' if open_min else '>='} {minimum}"
    elif maximum is not None:
        what = f"a finite number {'<' if open_max else '<='} {maximum}"
    else:
        what = "a finite number"
    if not is_real(value):
        raise TypeError(f"Expected `{name}` to be {what}, but got {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    bad = bad or (minimum is not None and (v <= minimum if open_min else v < minimum))
    bad = bad or (maximum is not None and (v >= maximum if open_max else v > maximum))
    if bad:
        raise ValueError(f"Expected `{name}` to be {what}, but got {value!r}")


def check_choice(name: str, value: object, choices: Iterable[Any]) -> None:
    """Check that ``value`` is one of ``choices``.

    Raises:
        ValueError: if it is not.

    Example:
        >>> check_choice("reduction", "sum", ["mean", "none"])
        Traceback (most recent call last):
        ...
        ValueError: Expected `reduction` to be one of ['mean', 'none'], but got 'sum'
    """
    options = list(choices)
    if value not in options:
        raise ValueError(f"Expected `{name}` to be one of {options}, but got {value!r}")


def check_bool(name: str, value: object) -> None:
    """Check a boolean switch.

    Raises:
        TypeError: if ``value`` is not a bool.
    """
    if not isinstance(value, bool):
        raise TypeError(f"Expected `{name}` to be a bool, but got {value!r}")


def check_tensor(name: str, value: object, dim: int | None = None, shape_hint: str = "") -> None:
    """Check that ``value`` is a tensor, optionally with ``dim`` dimensions (``shape_hint`` such as ``(N, H, W)``).

    Raises:
        TypeError: if ``value`` is not a tensor.
        ValueError: if it has the wrong number of dimensions.
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"Expected `{name}` to be a torch.Tensor, but got {type(value).__name__}")
    if dim is not None and value.dim() != dim:
        hint = f" of shape {shape_hint}" if shape_hint else ""
        raise ValueError(f"Expected `{name}` to be a {dim}-D tensor{hint}, but got shape {tuple(value.shape)}")


def check_finite(name: str, value: Tensor) -> None:
    """Check that a tensor holds no NaN or infinity (maps, logits, losses are errors then, not numbers to score).

    Raises:
        ValueError: naming how many entries are not finite.

    Example:
        >>> check_finite("clean", torch.tensor([1.0, float("nan")]))
        Traceback (most recent call last):
        ...
        ValueError: Expected `clean` to hold only finite values, but got 1 NaN or infinite of 2 entries
    """
    bad = ~torch.isfinite(value)
    if bool(bad.any()):
        raise ValueError(
            f"Expected `{name}` to hold only finite values, but got {int(bad.sum())} NaN or infinite of"
            f" {value.numel()} entries"
        )


def check_in_bounds(name: str, value: Tensor, low: float = 0.0, high: float = 1.0) -> None:
    """Check that every entry of an image tensor lies in ``[low, high]`` (and is finite).

    Attacks clamp their iterates into the pixel bounds: an input outside them (images in ``[0, 255]``, already
    normalised images) would be silently moved by up to the whole range. Pass other bounds for other conventions.

    Raises:
        ValueError: showing the observed range.

    Example:
        >>> check_in_bounds("x", torch.tensor([0.0, 255.0]))
        Traceback (most recent call last):
        ...
        ValueError: Expected `x` to lie in [0.0, 1.0] (the attack's pixel bounds), but got values in [0.0, 255.0]
    """
    check_finite(name, value)
    lo, hi = float(value.min()), float(value.max())
    if lo < low or hi > high:
        raise ValueError(
            f"Expected `{name}` to lie in [{low}, {high}] (the attack's pixel bounds), but got values in [{lo}, {hi}]"
        )


__all__ = [
    "check_bool",
    "check_choice",
    "check_finite",
    "check_in_bounds",
    "check_int",
    "check_optional_int",
    "check_real",
    "check_tensor",
    "is_int",
    "is_real",
]
