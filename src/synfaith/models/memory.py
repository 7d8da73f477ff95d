"""Device memory: what is free, what a call peaks at, and ``batch_size: auto``.

:func:`probe_batch_size` runs the game's scoring on two small probe batches of distinct image
masks (the most memory a batch can take: one vision pass and one prompt prefix per
coalition), measures each call's peak above what was allocated before it, fits
``peak(B) = fixed + B · per_coalition`` and returns the largest B with

    fixed + B · per_coalition ≤ safety · free,

capped (a batch larger than the coalitions a metric asks for at once buys nothing). Free
memory is the device's (``torch.cuda.mem_get_info``) or, on a CPU, the host's available
memory within the process's cgroup limit; a ``memory_budget`` option caps it, so a run can be
held to less than the device has. Peaks come from the CUDA allocator's statistics, or on a
CPU from the process's resident-set high-water mark (Linux ``VmHWM``, reset through
``/proc/self/clear_refs``); where neither is available the probe says so and the default
batch size is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}
FALLBACK_BATCH_SIZE = 16
CPU_BATCH_CAP = 64  # batching buys nothing on a CPU (each coalition is already a large matrix product)
GPU_BATCH_CAP = 256


def parse_bytes(value: int | float | str | None) -> int | None:
    """``"12GiB"``, ``"500 MB"``, ``2**30`` → bytes; None stays None.

    Raises:
        ValueError: naming the value when it is not a size.
    """
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        if value is not None and value <= 0:
            raise ValueError(f"a memory size must be positive, got {value!r}")
        return None if value is None else int(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in _UNITS or float(match.group(1)) <= 0:
        raise ValueError(f"not a memory size: {value!r} (write e.g. 24GiB, 500MB or a number of bytes)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _cgroup_headroom() -> int | None:
    """Bytes left under the process's cgroup memory limit (v2, then v1), or None without one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 2**60:
            return None
        return max(int(limit) - usage, 0)
    return None


def free_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device`` (None where it cannot be told)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "cpu":
        known = [b for b in (_meminfo_available(), _cgroup_headroom()) if b is not None]
        return min(known) if known else None
    return None


class PeakMemory:
    """Peak bytes allocated above the starting level while the block runs (``.peak``; None if unknown)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak: int | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        elif self.device.type == "cpu" and _reset_high_water_mark():
            self._start = _status_bytes("VmRSS")
        else:
            self._start = None
        return self

    def __exit__(self, *exc) -> None:
        if self._start is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = max(torch.cuda.max_memory_allocated(self.device) - self._start, 0)
        else:
            high = _status_bytes("VmHWM")
            self.peak = None if high is None or self._start is None else max(high - self._start, 0)


def _reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_bytes("VmHWM") is not None
    except OSError:
        return False


def _status_bytes(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class BatchSizeProbe:
    """What ``batch_size: auto`` chose and why (one line: :meth:`describe`)."""

    batch_size: int
    free_bytes: int | None
    fixed_bytes: int | None
    per_coalition_bytes: int | None
    reason: str = ""

    def describe(self) -> str:
        if self.reason:
            return f"batch_size auto: {self.batch_size} ({self.reason})"
        return (
            f"batch_size auto: {self.batch_size} coalitions per batch "
            f"({human_bytes(self.free_bytes)} free, about {human_bytes(self.per_coalition_bytes)} per coalition)"
        )


def human_bytes(n: int | None) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    if n is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def probe_batch_size(
    run_batch: Callable[[int], object], device: torch.device, *, budget: int | None = None, safety: float | None = None,
    sizes: tuple[int, int] = (2, 6),
) -> BatchSizeProbe:
    """The largest batch of coalitions that fits (see the module docstring).

    Args:
        run_batch: ``run_batch(B)`` scores B probe coalitions (distinct image masks).
        device: where the model runs.
        budget: the most bytes to use (the ``memory_budget`` option), below the free memory.
        safety: the share of free memory to fill (default 0.85 on a GPU, 0.5 on a CPU, whose
            allocator returns memory less promptly and where running out kills the process).
    """
    cap = CPU_BATCH_CAP if device.type == "cpu" else GPU_BATCH_CAP
    safety = safety if safety is not None else (0.5 if device.type == "cpu" else 0.85)
    free = free_memory(device)
    if budget is not None:
        free = budget if free is None else min(free, budget)
    if free is None:
        return BatchSizeProbe(FALLBACK_BATCH_SIZE, None, None, None, f"free memory on {device.type} unknown; the default")
    peaks = []
    for size in sizes:
        with PeakMemory(device) as meter:
            run_batch(size)
        peaks.append(meter.peak)
    if any(p is None for p in peaks):
        return BatchSizeProbe(FALLBACK_BATCH_SIZE, free, None, None, f"peak memory on {device.type} cannot be measured; the default")
    small, large = sizes
    # an allocator that kept the first probe's memory makes the slope too small: never below a
    # quarter of the larger probe's peak per coalition
    per = max((peaks[1] - peaks[0]) / (large - small), peaks[1] / large / 4, 1.0)
    fixed = max(peaks[1] - per * large, 0.0)
    fits = int((safety * free - fixed) // per)
    return BatchSizeProbe(max(1, min(cap, fits)), free, int(fixed), int(per))
