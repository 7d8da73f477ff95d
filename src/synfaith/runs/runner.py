"""The benchmark runner: a config in, a run directory of result rows out.

Work is planned as units — (model, dataset, a block of ``shard_size`` instances) — in a fixed
order. ``--shard i/n`` keeps units i, i+n, … (SLURM arrays and other schedulers without Ray);
the local executor runs its units in this process, one model loaded at a time; the Ray
executor sends them to one actor per model replica (each holding the model on its own GPU).
Every executor writes the same rows into the same directory and skips keys already there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from synfaith.runs.config import RunConfig
from synfaith.runs.identity import RunIdentity, checkpoint_hash, dataset_part, explainer_part, model_part, run_part
from synfaith.runs.lock import RunLock
from synfaith.runs.pipeline import MetricPlan, score_instance
from synfaith.runs.store import RunStore

Fingerprints = dict[tuple[str, str, str], str]


@dataclass(frozen=True)
class WorkUnit:
    """A block of one dataset's instances for one model."""

    model: int
    dataset: int
    positions: tuple[int, ...]  # positions in the dataset's selected index list
    number: int  # the unit's place in the plan


@dataclass
class RunSummary:
    """What a call of :func:`run` did."""

    run_dir: Path
    rows_written: int = 0
    failures: int = 0
    skipped: int = 0
    units: int = 0
    seconds: float = 0.0
    failure_stages: dict[str, int] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)  # settings that differ from the directory's last run

    def describe(self) -> str:
        stages = ", ".join(f"{k} {v}" for k, v in sorted(self.failure_stages.items())) or "none"
        changed = f"settings changed ({'; '.join(self.changed)}): their rows were run again. " if self.changed else ""
        return (
            f"{changed}{self.rows_written} rows written ({self.failures} failure rows; by stage: {stages}), "
            f"{self.skipped} already done, {self.units} work units, {self.seconds:.1f} s → {self.run_dir}"
        )


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` (0 ≤ i < n) as ``(i, n)``."""
    if text is None:
        return None
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"--shard {text}: need 0 ≤ i < n")
    return index, count


def open_sources(config: RunConfig):
    """Each configured dataset's source and its selected row indices."""
    from synfaith.data import open_dataset

    opened = []
    for dataset in config.datasets:
        source = open_dataset(dataset.kind, **dataset.options)
        opened.append((source, source.indices(dataset.limit, dataset.seed)))
    return opened


def plan_units(config: RunConfig, selected: Sequence[Sequence[int]]) -> list[WorkUnit]:
    """Every work unit of the run, in a fixed order (model, dataset, block)."""
    size = config.execution.shard_size
    units = []
    for m in range(len(config.models)):
        for d, indices in enumerate(selected):
            for start in range(0, len(indices), size):
                positions = tuple(range(start, min(start + size, len(indices))))
                units.append(WorkUnit(m, d, positions, len(units)))
    return units


def explainer_options(config: RunConfig, spec) -> dict[str, object]:
    """An explainer's options as it is built: the run's seed fills in an unset ``seed``."""
    from synfaith.explainers import EXPLAINERS
    from synfaith.options import options_model

    options = dict(spec.options)
    if "seed" in options_model(EXPLAINERS[spec.name]).model_fields and "seed" not in options:
        options["seed"] = config.seed
    return options


def build_explainers(config: RunConfig) -> dict[str, object]:
    """Explainer instances by row key (see :func:`explainer_options`)."""
    from synfaith.explainers import get_explainer

    return {spec.key: get_explainer(spec.name, **explainer_options(config, spec)) for spec in config.explainers}


def model_checkpoint(spec) -> str | None:
    """The hash of a configured model's checkpoint (None for an endpoint); resolves (downloads) it."""
    from synfaith.models.loading import is_endpoint, resolve_checkpoint, toy_checkpoint

    if is_endpoint(spec.path):
        return None
    directory = toy_checkpoint() if spec.path == "toy" else resolve_checkpoint(spec.path)
    return checkpoint_hash(directory)


def run_identity(config: RunConfig, sources) -> RunIdentity:
    """The fingerprinted settings of a run (:mod:`synfaith.runs.identity`)."""
    from synfaith import __version__

    return RunIdentity(
        run=run_part(config.dump(), __version__),
        models={spec.label: model_part(spec, model_checkpoint(spec)) for spec in config.models},
        datasets={
            spec.label: dataset_part(spec, [source.row_id(i) for i in range(len(source))]) for spec, (source, _) in zip(config.datasets, sources)
        },
        explainers={spec.key: explainer_part(spec.name, explainer_options(config, spec)) for spec in config.explainers},
    )


def metric_plan(config: RunConfig) -> MetricPlan:
    """The run's metrics, settings, seed and zero-state, for the pipeline."""
    return MetricPlan.build(config.metrics.compute, config.metrics.model_dump(), seed=config.seed, zero_state=config.zero_state.value())


def load_adapter(config: RunConfig, model_index: int):
    """The model of one configured entry (see :func:`synfaith.models.load_model`)."""
    from synfaith.models import load_model

    spec = config.models[model_index]
    return load_model(spec.path, device=spec.device, dtype=spec.dtype, batch_size=spec.batch_size, **spec.adapter_options())


def run_unit(
    config: RunConfig, adapter, source, indices, unit: WorkUnit, store: RunStore, done, explainers, fingerprints: Fingerprints, bar=None
) -> RunSummary:
    """Score one work unit, skipping finished keys; rows are flushed every ``flush_every`` instances.

    Every row is stamped with the fingerprint of its (model, dataset, explainer).
    """
    model = config.models[unit.model].label
    dataset = config.datasets[unit.dataset].label
    plan = metric_plan(config)
    summary = RunSummary(store.run_dir, units=1)
    buffer: list[dict] = []
    pending = 0
    for position in unit.positions:
        index = indices[position]
        row_id = source.row_id(index)
        missing = {k: e for k, e in explainers.items() if (model, dataset, row_id, k) not in done}
        summary.skipped += len(explainers) - len(missing)
        if missing:
            rows = score_instance(
                adapter,
                source.row(index),
                explainers=missing,
                plan=plan.for_position(position),
                model_label=model,
                dataset_label=dataset,
                index=index,
            )
            for row in rows:
                row["fingerprint"] = fingerprints[(model, dataset, row["explainer"])]
            buffer.extend(rows)
            pending += 1
            for row in rows:
                if row["status"] == "failed":
                    summary.failures += 1
                    summary.failure_stages[row["stage"]] = summary.failure_stages.get(row["stage"], 0) + 1
        if pending >= config.execution.flush_every:
            store.write_rows(buffer, f"{model}__{dataset}__u{unit.number:05d}")
            summary.rows_written += len(buffer)
            buffer, pending = [], 0
        if bar is not None:
            bar.update(1)
    if buffer:
        store.write_rows(buffer, f"{model}__{dataset}__u{unit.number:05d}")
        summary.rows_written += len(buffer)
    return summary


def _merge(total: RunSummary, part: RunSummary) -> None:
    total.rows_written += part.rows_written
    total.failures += part.failures
    total.skipped += part.skipped
    total.units += part.units
    for stage, count in part.failure_stages.items():
        total.failure_stages[stage] = total.failure_stages.get(stage, 0) + count


def _unit_done(config: RunConfig, source, indices, unit: WorkUnit, done, keys: Iterable[str]) -> bool:
    model, dataset = config.models[unit.model].label, config.datasets[unit.dataset].label
    return all((model, dataset, source.row_id(indices[p]), k) in done for p in unit.positions for k in keys)


def run(
    config: RunConfig,
    shard: tuple[int, int] | None = None,
    executor: str | None = None,
    retry_failed: bool = False,
    rerun_changed: bool = False,
) -> RunSummary:
    """Run (or resume) a configured benchmark; returns a summary of what this call wrote.

    The datasets and checkpoints are opened before the run directory is touched, so a bad path
    fails first. The directory is locked for the run (:mod:`synfaith.runs.lock`); a finished
    row is reused only when its fingerprint matches the current settings
    (:mod:`synfaith.runs.identity`).

    Args:
        shard: ``(i, n)``: only work units i, i+n, … (processes of one run side by side).
        executor: ``"local"`` or ``"ray"`` (default: the config's).
        retry_failed: run the keys whose rows failed again (e.g. after a CUDA out-of-memory).
        rerun_changed: when the directory holds rows of other settings, run the affected keys
            again under the new ones instead of refusing (the old rows are then ignored).

    Raises:
        RunDirectoryBusy: another process holds the directory.
        RunSettingsChanged: the settings changed and ``rerun_changed`` is False.
    """
    start = time.perf_counter()
    sources = open_sources(config)
    identity = run_identity(config, sources)
    fingerprints = identity.fingerprints()
    with RunLock(config.output_dir, shard) as lock:
        store = RunStore(config.output_dir)
        changes = store.initialise(config.dump(), identity, rerun_changed=rerun_changed, sole_writer=lock.exclusive)
        summary = _execute(config, store, sources, fingerprints, shard, executor, retry_failed)
    summary.changed = changes
    summary.seconds = time.perf_counter() - start
    return summary


def _execute(config: RunConfig, store: RunStore, sources, fingerprints: Fingerprints, shard, executor, retry_failed) -> RunSummary:
    units = plan_units(config, [indices for _, indices in sources])
    if shard is not None:
        units = units[shard[0] :: shard[1]]
    done = store.finished_keys(retry_failed, fingerprints)
    keys = [spec.key for spec in config.explainers]
    todo = [u for u in units if not _unit_done(config, *sources[u.dataset], u, done, keys)]
    summary = RunSummary(store.run_dir, units=0)
    summary.skipped = sum(len(u.positions) for u in units if u not in todo) * len(keys)
    executor = executor or config.execution.executor
    if executor == "ray":
        from synfaith.runs.ray_executor import run_on_ray

        for part in run_on_ray(config, todo, fingerprints, retry_failed):
            _merge(summary, part)
    elif executor == "local":
        explainers = build_explainers(config)
        for model_index in sorted({u.model for u in todo}):
            adapter = load_adapter(config, model_index)
            for dataset_index in sorted({u.dataset for u in todo if u.model == model_index}):
                source, indices = sources[dataset_index]
                mine = [u for u in todo if u.model == model_index and u.dataset == dataset_index]
                label = f"{config.models[model_index].label} × {config.datasets[dataset_index].label}"
                with tqdm(
                    total=sum(len(u.positions) for u in mine),
                    desc=label,
                    unit="instance",
                    disable=not config.execution.progress,
                ) as bar:
                    for unit in mine:
                        _merge(summary, run_unit(config, adapter, source, indices, unit, store, done, explainers, fingerprints, bar))
            del adapter
    else:
        raise ValueError(f"unknown executor {executor!r}; use 'local' or 'ray'")
    return summary
