"""A thread policy for CPUs: as many torch threads as this process may use, waiting passively.

torch starts one OpenMP thread per *machine* core and, by default, lets idle threads spin.
In a container limited by a CPU quota, or beside other busy processes, that is several times
slower than one thread (measured on a shared 2-core machine: 4.8×; 1.02× with a passive wait
policy). :func:`apply_thread_policy` sets ``OMP_NUM_THREADS`` to the cores this process may
use — its CPU affinity, capped by a cgroup quota — and ``OMP_WAIT_POLICY=PASSIVE``, unless
the user set either. It must run before torch is imported to take full effect (the ``synfaith``
command calls it first); after, it can only set torch's thread count.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_quota(root: Path = CGROUP_ROOT) -> int | None:
    """The cores a cgroup CPU quota allows (rounded up), or None without a quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]  # cgroup v2: "max 100000" or "150000 100000"
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cores(root: Path = CGROUP_ROOT) -> int:
    """Cores this process may run on: its affinity mask, capped by the cgroup quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_quota(root)
    return max(1, min(cores, quota) if quota else cores)


def apply_thread_policy(environ: MutableMapping[str, str] | None = None, root: Path = CGROUP_ROOT) -> dict[str, str]:
    """Set ``OMP_NUM_THREADS`` and ``OMP_WAIT_POLICY`` unless the user set them; returns what it set.

    When torch is already imported the environment no longer reaches OpenMP, so only torch's
    intra-op thread count is set (again unless ``OMP_NUM_THREADS`` was given).
    """
    environ = os.environ if environ is None else environ
    applied: dict[str, str] = {}
    if "OMP_NUM_THREADS" not in environ:
        applied["OMP_NUM_THREADS"] = str(usable_cores(root))
    if "OMP_WAIT_POLICY" not in environ:
        applied["OMP_WAIT_POLICY"] = "PASSIVE"
    environ.update(applied)
    if "torch" in sys.modules and "OMP_NUM_THREADS" in applied and environ is os.environ:
        sys.modules["torch"].set_num_threads(int(applied["OMP_NUM_THREADS"]))
    return applied
