"""Where tensors live and how many CPU threads a computation uses.

``device_of("auto")`` is CUDA when available, else the CPU; anything else must name a torch device
(``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``). ``one_thread()`` runs a block on one
intra-op CPU thread: the small networks of this book gain nothing from more, and on a shared CPU the
OpenMP barriers of two threads stall each other (per-item timings are only honest on one thread).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

ACCEPTED = "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device"


def device_of(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; otherwise the named device (a ValueError naming
    ``device`` when it is not one, or is CUDA on a machine without it)."""
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            raise ValueError(f"unknown device {device[:40]!r}; expected {ACCEPTED}") from None
    else:
        raise ValueError(f"device must be a string or torch.device, got {type(device).__name__}; expected {ACCEPTED}")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {str(dev)!r}; expected {ACCEPTED}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(dev)!r} asked for, but CUDA is not available here; use 'auto' or 'cpu'")
    return dev


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one intra-op CPU thread, restoring the count after."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
