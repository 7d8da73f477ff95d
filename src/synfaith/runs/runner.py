"""The benchmark runner: a config in, a run directory of result rows out.

Work is planned as units — (model, dataset, a block of ``shard_size`` instances) — in a fixed
order. ``--shard i/n`` keeps units i, i+n, … (SLURM arrays and other schedulers without Ray);
the local executor runs its units in this process, one model loaded at a time; the Ray
executor sends them to one actor per model replica (each holding the model on its own GPU).
Every executor writes the same rows into the same directory and skips keys already there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from synfaith.runs.config import RunConfig
from synfaith.runs.config_parts import instance_count
from synfaith.runs.identity import RunIdentity, checkpoint_hash, dataset_part, explainer_part, model_part, run_part
from synfaith.runs.lock import RunLock
from synfaith.runs.pipeline import MetricPlan, score_instance
from synfaith.runs.processes import resolve_workers
from synfaith.runs.store import RunStore
from synfaith.runs.units import WorkUnit, limited_positions, plan_units  # noqa: F401 - re-exported

Fingerprints = dict[tuple[str, str, str], str]
log = logging.getLogger(__name__)


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
    results: Path | None = None  # RUN_DIR/results.json (runs/results.py)
    samples: list[Path] = field(default_factory=list)  # RUN_DIR/samples/*.jsonl, with log_samples

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
    opened = []
    for dataset in config.datasets:
        source = dataset.open_source()  # answer_type / max_answer_tokens applied (docs/open-answers.md)
        opened.append((source, source.indices(instance_count(dataset.limit, len(source)), dataset.seed)))
    return opened


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


def check_model(config: RunConfig, spec) -> None:
    """Refuse a checkpoint no adapter loads, options its adapter does not take, or explainers it cannot serve.

    The config checks these for every checkpoint it can see offline; a hub name that was not
    cached yet is checked here, after :func:`model_checkpoint` fetched it and before the run
    directory exists — a bad ``--model_args pretrained=…`` never leaves a directory behind.
    """
    from synfaith.contracts import missing_capabilities, needs_phrase
    from synfaith.models.loading import adapter_options_check, is_endpoint, resolve_checkpoint, toy_checkpoint
    from synfaith.models.registry import adapter_for_checkpoint
    from synfaith.secrets import redact

    if is_endpoint(spec.path):
        return
    directory = toy_checkpoint() if spec.path == "toy" else resolve_checkpoint(spec.path, allow_download=False)
    validated = spec.capabilities() is not None  # the config checked the adapter and its explainers
    adapter_class = None if validated else adapter_for_checkpoint(directory)  # each raises a one-line reason
    if not any(next(Path(directory).glob(pattern), None) for pattern in ("*.safetensors", "pytorch_model*.bin")):
        raise ValueError(f"model {redact(spec.path)!r}: the checkpoint directory holds no weights (*.safetensors or pytorch_model*.bin); "
                         "copy or download the whole checkpoint")
    if validated:
        return
    adapter_options_check(adapter_class, spec.adapter_options(), f"model {redact(spec.path)!r}")
    for explainer in config.explainers:
        missing = missing_capabilities(explainer.requires, frozenset(adapter_class.capabilities))
        if missing:
            raise ValueError(f"explainer {explainer.key!r} needs {needs_phrase(missing)}, which model {spec.label!r} does not have; drop one of them")


def announce_costs(config: RunConfig, todo: Sequence[WorkUnit]) -> None:
    """Log (INFO) what the exact SII will cost on the units about to run, when the run computes it
    (:mod:`synfaith.runs.cost`; it runs on the first ``sii_limit`` instances of each dataset)."""
    from synfaith.runs.cost import sii_cost

    if "sii" not in config.metrics.compute:
        return
    settings = config.metrics
    limit = settings.sii_limit
    instances = sum(1 for unit in todo for position in unit.positions if limit is None or position < limit)
    cost = sii_cost(instances, len(config.explainers), settings.steps, settings.background_players)
    if cost.pairs:
        log.info(cost.describe())


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
    for number, position in enumerate(unit.positions):
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
        if bar is not None and number < len(unit.positions) - 1:
            bar.update(1)
    if buffer:
        store.write_rows(buffer, f"{model}__{dataset}__u{unit.number:05d}")
        summary.rows_written += len(buffer)
    if bar is not None and unit.positions:
        bar.update(1)  # the unit's last instance counts once its rows are written
    return summary


class LogProgress:
    """A progress bar's stand-in when bars are off: one INFO log line per finished instance."""

    def __init__(self, label: str, total: int, unit: str = "instances") -> None:
        self.label, self.total, self.unit, self.done, self.start = label, total, unit, 0, time.perf_counter()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1, note: str = "") -> None:
        """Count ``n`` more finished instances and log where the run stands."""
        self.done += n
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        note = f" ({note})" if note else ""
        log.info("%s: %d/%d %s, %.1f s elapsed, ~%.0f s left%s", self.label, self.done, self.total, self.unit, elapsed, left, note)


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
    log_samples: bool = False,
) -> RunSummary:
    """Run (or resume) a configured benchmark; returns a summary of what this call wrote.

    The datasets and checkpoints are opened (and every checkpoint's adapter, options and
    explainers checked) before the run directory is touched, so a bad path fails first. The
    directory is locked for the run (:mod:`synfaith.runs.lock`); a finished row is reused only
    when its fingerprint matches the current settings (:mod:`synfaith.runs.identity`). At the
    end ``RUN_DIR/results.json`` is rewritten over all the directory's rows
    (:mod:`synfaith.runs.results`).

    Args:
        shard: ``(i, n)``: only work units i, i+n, … (processes of one run side by side).
        executor: ``"local"`` or ``"ray"`` (default: the config's).
        retry_failed: run the keys whose rows failed again (e.g. after a CUDA out-of-memory).
        rerun_changed: when the directory holds rows of other settings, run the affected keys
            again under the new ones instead of refusing (the old rows are then ignored).
        log_samples: also write ``RUN_DIR/samples/MODEL__DATASET.jsonl``, one line per instance.

    Raises:
        RunDirectoryBusy: another process holds the directory.
        RunSettingsChanged: the settings changed and ``rerun_changed`` is False.
    """
    start = time.perf_counter()
    sources = open_sources(config)
    identity = run_identity(config, sources)
    for spec in config.models:
        check_model(config, spec)
    fingerprints = identity.fingerprints()
    with RunLock(config.output_dir, shard) as lock:
        store = RunStore(config.output_dir)
        changes = store.initialise(config.dump(), identity, rerun_changed=rerun_changed, sole_writer=lock.exclusive)
        summary = _execute(config, store, sources, fingerprints, shard, executor, retry_failed)
        summary.changed = changes
        summary.seconds = time.perf_counter() - start
        _write_records(config, store, summary, log_samples)
    return summary


def _write_records(config: RunConfig, store: RunStore, summary: RunSummary, log_samples: bool) -> None:
    """results.json (and the sample files) over every row the directory holds now."""
    from synfaith.plugins import load_plugins
    from synfaith.runs.identity import file_hash
    from synfaith.runs.results import write_results, write_samples

    rows = store.read_rows()
    plugins = {}
    for module, path in load_plugins(config.include_paths, config.imports).files:  # imported already: this only lists them
        plugins[module] = {"file": path, "sha256": file_hash(Path(path)) if path and Path(path).is_file() else None}
    last_run = {k: getattr(summary, k) for k in ("rows_written", "failures", "skipped", "units", "seconds", "changed")}
    summary.results = write_results(store.run_dir, rows, config.dump(), last_run=last_run | {"failure_stages": summary.failure_stages}, plugins=plugins)
    if log_samples:
        summary.samples = write_samples(store.run_dir, rows, config.metrics.compute)


def _execute(config: RunConfig, store: RunStore, sources, fingerprints: Fingerprints, shard, executor, retry_failed) -> RunSummary:
    units = plan_units(config, [indices for _, indices in sources])
    if shard is not None:
        units = units[shard[0] :: shard[1]]
    done = store.finished_keys(retry_failed, fingerprints)
    keys = [spec.key for spec in config.explainers]
    todo = [u for u in units if not _unit_done(config, *sources[u.dataset], u, done, keys)]
    summary = RunSummary(store.run_dir, units=0)
    summary.skipped = sum(len(u.positions) for u in units if u not in todo) * len(keys)
    announce_costs(config, todo)
    executor = executor or config.execution.executor
    if executor == "ray":
        from synfaith.runs.ray_executor import run_on_ray

        progress = LogProgress("ray", len(todo), "work units")
        for part in run_on_ray(config, todo, fingerprints, retry_failed):
            _merge(summary, part)
            progress.update(1, f"{part.rows_written} rows, {part.failures} failed")
    elif executor == "local" and resolve_workers(config.execution.workers) > 1 and todo:
        from synfaith.runs.processes import run_in_processes

        workers = resolve_workers(config.execution.workers)
        total = sum(len(u.positions) for u in todo)
        label = f"{workers} worker processes"
        with tqdm(total=total, desc=label, unit="instance") if config.execution.progress else LogProgress(label, total) as bar:
            for unit, part in run_in_processes(config, todo, fingerprints, retry_failed, workers):
                _merge(summary, part)
                bar.update(len(unit.positions))
    elif executor == "local":
        explainers = build_explainers(config)
        for model_index in sorted({u.model for u in todo}):
            adapter = load_adapter(config, model_index)
            for dataset_index in sorted({u.dataset for u in todo if u.model == model_index}):
                source, indices = sources[dataset_index]
                mine = [u for u in todo if u.model == model_index and u.dataset == dataset_index]
                label = f"{config.models[model_index].label} × {config.datasets[dataset_index].label}"
                total = sum(len(u.positions) for u in mine)
                with tqdm(total=total, desc=label, unit="instance") if config.execution.progress else LogProgress(label, total) as bar:
                    for unit in mine:
                        _merge(summary, run_unit(config, adapter, source, indices, unit, store, done, explainers, fingerprints, bar))
            del adapter
    else:
        raise ValueError(f"unknown executor {executor!r}; use 'local' or 'ray'")
    return summary
