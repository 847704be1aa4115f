"""Where tensors live and how many CPU threads run them.

``device_of`` turns the ``device`` argument of every public function into a ``torch.device``:
``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a
``torch.device``; anything else, or a CUDA device this machine does not have, is a ``ValueError``.
``clock`` times work on a device: the thread's CPU time on the CPU, synchronised wall time on a GPU.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

ACCEPTED = "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device"
Device = str | torch.device  # what every ``device`` argument accepts
_NAME = re.compile(r"cpu|cuda(?::(0|[1-9][0-9]{0,3}))?")


def device_of(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; other names and ``torch.device`` are checked."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = str(device) if isinstance(device, torch.device) else device
    m = _NAME.fullmatch(name) if isinstance(name, str) else None
    if m is None and not (isinstance(device, torch.device) and device.type == "cpu"):
        raise ValueError(f"unknown device {repr(device)[:80]}; expected {ACCEPTED}")
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {name!r}: CUDA is not available on this machine; use 'auto' or 'cpu'")
        if int(m.group(1) or 0) >= count:
            raise ValueError(f"device {name!r}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    return torch.device(name)


def clock(device: Device = "auto") -> float:
    """A time in seconds for timing work on ``device`` (differences only): on a GPU, wall time after
    ``torch.cuda.synchronize`` (the thread only queues the work); on the CPU, the calling thread's CPU
    time (what the work cost, whatever else shares the machine)."""
    dev = device_of(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        return time.perf_counter()
    return time.thread_time()


@contextmanager
def one_thread() -> Iterator[None]:
    """Run with one intra-op CPU thread, restoring the count after: the proxy networks are too small
    to gain from threads, and on a shared CPU OpenMP barriers between threads then stall."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


__all__ = ["Device", "device_of", "clock", "one_thread"]
