"""Scale-out on Ray: one actor per model replica, each holding its model on its own GPU.

Work units of a model go to that model's actors (``ray_workers`` replicas, ``ray_num_gpus`` and
``ray_num_cpus`` each); every actor opens the datasets itself and writes its shards straight
into the shared run directory (a shared filesystem beyond one machine), so the driver only
collects summaries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from synfaith.runs.config import RunConfig


def run_on_ray(config: RunConfig, units: Sequence, fingerprints: dict, retry_failed: bool = False) -> Iterator:
    """Run units on Ray actors; yields each unit's :class:`RunSummary` as it finishes."""
    try:
        import ray
    except ImportError as error:
        raise ImportError("--executor ray needs Ray: pip install 'ray[default]'") from error

    if not units:
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.execution.ray_address, include_dashboard=False, log_to_driver=False)
    try:
        resources = {"num_gpus": config.execution.ray_num_gpus, "num_cpus": config.execution.ray_num_cpus}
        worker_class = ray.remote(**resources)(ModelWorker)
        config_data = config.dump(reveal_secrets=True)  # in memory to the workers, never written
        pending = []
        for model_index in sorted({u.model for u in units}):
            mine = [u for u in units if u.model == model_index]
            actors = [worker_class.remote(config_data, model_index, fingerprints, retry_failed) for _ in range(min(config.execution.ray_workers, len(mine)))]
            pending += [actors[i % len(actors)].run.remote(unit) for i, unit in enumerate(mine)]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            yield ray.get(finished[0])
    finally:
        if started_here:
            ray.shutdown()


class ModelWorker:
    """Holds one model and the run's datasets; scores work units into the run directory."""

    def __init__(self, config_data: dict, model_index: int, fingerprints: dict, retry_failed: bool = False) -> None:
        from synfaith.runs.config import parse_config
        from synfaith.runs.runner import build_explainers, load_adapter, open_sources
        from synfaith.runs.store import RunStore

        self.config = parse_config(config_data, "(sent to a Ray worker)")
        self.adapter = load_adapter(self.config, model_index)
        self.sources = open_sources(self.config)
        self.explainers = build_explainers(self.config)
        self.store = RunStore(self.config.output_dir)
        self.fingerprints = fingerprints
        self.done = self.store.finished_keys(retry_failed, fingerprints)  # read once: units never share keys

    def run(self, unit):
        from synfaith.runs.runner import run_unit

        source, indices = self.sources[unit.dataset]
        return run_unit(self.config, self.adapter, source, indices, unit, self.store, self.done, self.explainers, self.fingerprints)
