"""Checks of the public API's arguments, at the edge: one clear ``ArgumentTypeError`` (wrong kind of
value; both a ``TypeError`` and a ``ValueError``) or ``ValueError`` (right kind, bad value) that names
the argument, what it got and what was expected. Inside the package, code trusts what these checks
let through; a valid value passes unchanged, so no number computed from valid input depends on them."""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable

import numpy as np
import torch

MAX_GB_DEFAULT = 4.0


class ArgumentTypeError(TypeError, ValueError):
    """A value of the wrong kind: a ``TypeError`` that is also a ``ValueError``, so callers that catch
    the package's usual ``ValueError`` for bad input (the command line does) catch it too."""


def _show(value) -> str:
    """A short description of ``value`` for a message: its type and shape for arrays, else a cut repr."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:80]}... ({len(text):,} characters)"


def real_tensor(value, name: str, ndim: int | tuple[int, ...] | None = None, layout: str = "",
                finite: bool = True) -> torch.Tensor:
    """``value`` as a real tensor: a tensor passes as it is, a numpy array, a number or a (nested) list of
    numbers is converted (``torch.as_tensor``). Complex, boolean and non-numeric values are a ``TypeError``; a
    rank other than ``ndim``, an empty tensor and (with ``finite``) NaN or infinite entries a ``ValueError``."""
    if isinstance(value, torch.Tensor):
        t = value
    elif isinstance(value, (np.ndarray, np.generic, list, tuple)) or (
            isinstance(value, numbers.Real) and not isinstance(value, bool)):
        try:
            t = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError):
            raise ArgumentTypeError(f"{name} must be an array of real numbers, got {_show(value)}") from None
    else:
        raise ArgumentTypeError(f"{name} must be a tensor or numpy array of real numbers, got {type(value).__name__}")
    if t.is_complex() or t.dtype == torch.bool:
        raise ArgumentTypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and t.ndim not in allowed:
        ranks = " or ".join(f"{k}-D" for k in allowed)
        raise ValueError(f"{name} must be a {ranks} tensor{' ' + layout if layout else ''}, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); expected at least one entry")
    if finite and t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} holds {bad:,} NaN or infinite values; expected finite numbers")
    return t


def integer(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``low..high``; a bool, float or string is a ``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an integer, got {_show(value)} ({type(value).__name__})")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"in {low:,}..{high:,}" if low is not None and high is not None else \
            f">= {low:,}" if low is not None else f"<= {high:,}"
        raise ValueError(f"{name} must be an integer {span}, got {int(value):,}")
    return int(value)


def real(value, name: str, low: float | None = None, high: float | None = None, low_open: bool = False) -> float:
    """``value`` as a finite ``float`` in ``[low, high]`` (``(low, high]`` with ``low_open``); a bool or
    string is a ``TypeError``, NaN or infinity a ``ValueError``."""
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0 and not value.dtype == torch.bool:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {_show(value)} ({type(value).__name__})")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x}")
    if (low is not None and (x < low or (low_open and x == low))) or (high is not None and x > high):
        bounds = ([f"{'>' if low_open else '>='} {low:g}"] if low is not None else []) + \
            ([f"<= {high:g}"] if high is not None else [])
        raise ValueError(f"{name} must be a number {' and '.join(bounds)}, got {x:g}")
    return x


def sequence(value, name: str, single: type | tuple[type, ...] = str) -> list:
    """``value`` as a list; a lone ``single`` item (such as one architecture string, which would be
    read character by character) or a non-iterable is a ``TypeError``."""
    if isinstance(value, single) or not isinstance(value, Iterable):
        raise ArgumentTypeError(f"{name} must be a list, got {_show(value)}: wrap a single item in a list")
    return list(value)


def max_bytes() -> float:
    """The memory one computation may take: ``$CONVLIB_MAX_GB`` gigabytes (1e9 bytes), default 4."""
    text = os.environ.get("CONVLIB_MAX_GB", str(MAX_GB_DEFAULT))
    try:
        gb = float(text)
    except ValueError:
        gb = math.nan
    if not gb > 0:
        raise ValueError(f"CONVLIB_MAX_GB must be a positive number of gigabytes, got {text[:80]!r}")
    return gb * 1e9


def fits_memory(need: float, what: str, advice: str) -> None:
    """A ``ValueError`` saying how much ``what`` needs when ``need`` bytes exceed ``max_bytes()``."""
    limit = max_bytes()
    if need > limit:
        raise ValueError(f"{what} needs about {need / 1e9:,.1f} GB, above the limit of {limit / 1e9:g} GB: {advice}, "
                         "or raise the limit with the environment variable CONVLIB_MAX_GB")


__all__ = ["real_tensor", "integer", "real", "sequence", "max_bytes", "fits_memory"]
