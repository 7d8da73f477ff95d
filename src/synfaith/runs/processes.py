"""Local worker processes: ``execution.workers: N`` scores work units in N processes on one machine.

A small model on a CPU cannot use two cores inside one forward pass (its matrix products are
too small for torch's threads to pay off), but two processes with one thread each run two
instances at once. Each process holds its own copy of the model (loaded once, by the pool's
initializer) and writes its shards straight into the run directory, exactly as a Ray actor
does (:class:`~synfaith.runs.ray_executor.ModelWorker`); the parent holds the run's lock and
collects each unit's summary as it finishes. Units are handed out one at a time, so a worker
that finishes a light unit takes the next one — a run whose first units hold the exact SII
stays balanced. Threads per process: the cores this process may use over the workers (at
least one), with a passive OpenMP wait policy.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

_WORKER = None  # the process's ModelWorker (set by the pool's initializer)


def resolve_workers(workers: int | str) -> int:
    """``"auto"`` → the cores this process may use; an integer stays as it is."""
    from synfaith.threads import usable_cores

    return usable_cores() if workers == "auto" else int(workers)


def _start_worker(config_data: dict, model_index: int, fingerprints: dict, retry_failed: bool, threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)  # before torch is imported in this fresh process
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(threads)
    from synfaith.runs.ray_executor import ModelWorker

    global _WORKER
    _WORKER = ModelWorker(config_data, model_index, fingerprints, retry_failed)


def _run_unit(unit):
    return _WORKER.run(unit)


def run_in_processes(config, units: Sequence, fingerprints: dict, retry_failed: bool, workers: int) -> Iterator:
    """Run ``units`` in ``workers`` local processes per model; yields ``(unit, RunSummary)`` as each finishes."""
    from synfaith.threads import usable_cores

    threads = max(1, usable_cores() // workers)
    config_data = config.dump(reveal_secrets=True)  # in memory to the workers, never written
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch or lock state
    for model_index in sorted({u.model for u in units}):
        mine = [u for u in units if u.model == model_index]
        with ProcessPoolExecutor(
            max_workers=min(workers, len(mine)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(config_data, model_index, fingerprints, retry_failed, threads),
        ) as pool:
            submitted = {pool.submit(_run_unit, unit): unit for unit in mine}
            pending = set(submitted)
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield submitted[future], future.result()
            finally:
                for future in pending:
                    future.cancel()
