"""The one per-instance pipeline: prepare → target → one shared game → explainers → metrics → rows.

Every driver — the runner (local, Ray, shards), the sensitivity analysis, the planted-truth
explainer table and sanity rows, the toy model's card — scores an instance through
:func:`score_instance`. It builds **one game per (instance, target)**, so one coalition cache
serves every metric and every explainer's ranking of that instance (and game-based explainers
such as MultiSHAP); each metric's own cost is still recorded — the distinct coalitions it asked
for (``<metric>_coalitions``, its cost on a cold cache) and how many of them were new
(``<metric>_evaluations``) — and ``instance_evaluations`` is what the instance cost in all.

Every stage that can fail on bad input is guarded: that instance's rows become failure rows
naming the stage and the error, and the run goes on. Metrics see only the game, the scores and
the settings (:class:`~synfaith.metrics.MetricInputs`).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synfaith.contracts import DEFAULT_ZERO_STATE, ZeroState
from synfaith.data.source import InvalidRow, Row
from synfaith.metrics.registry import Metric, MetricInputs, get_metric
from synfaith.secrets import redact

WORKER = f"{socket.gethostname()}:{os.getpid()}"


def error_text(error: BaseException) -> str:
    """``Type: first line`` of an error, for a failure row (at most 2,000 characters, secrets as ``***``)."""
    text = str(error).strip().splitlines()
    return redact(f"{type(error).__name__}: {text[0] if text else ''}")[:2000]


def _json_default(value):
    return str(value)


class Settings:
    """Metric settings by attribute (``settings.steps``), from a mapping."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Settings({self.__dict__!r})"


@dataclass(frozen=True)
class MetricPlan:
    """Which metrics run, with what settings, seed and zero-state.

    Attributes:
        metrics: the metrics in the order they run (instance scope first).
        settings: every metric setting by attribute (defaults filled in).
        seed: the run's seed (SII background shuffles, stability noise).
        zero_state: the zero-state passed to ``prepare``.
    """

    metrics: tuple[Metric, ...]
    settings: Any
    seed: int = 0
    zero_state: ZeroState = DEFAULT_ZERO_STATE

    @classmethod
    def build(cls, names: Sequence[str], settings: Mapping[str, Any] | Any = None, *, seed: int = 0, zero_state: ZeroState = DEFAULT_ZERO_STATE) -> MetricPlan:
        """A plan of registered metrics by name; ``settings`` fills in over the declared defaults."""
        from synfaith.metrics.registry import metric_settings

        metrics = [get_metric(name) for name in dict.fromkeys(names)]
        values = {key: info.default for key, (_, info) in metric_settings().items()}
        given = settings if isinstance(settings, Mapping) else (vars(settings) if settings is not None else {})
        values.update({k: v for k, v in given.items() if k != "compute"})
        ordered = [m for m in metrics if m.scope == "instance"] + [m for m in metrics if m.scope == "attribution"]
        return cls(tuple(ordered), Settings(values), seed, zero_state)

    def for_position(self, position: int | None) -> MetricPlan:
        """The metrics that run on the instance at ``position`` of its dataset (limits applied)."""
        kept = []
        for metric in self.metrics:
            limit = getattr(self.settings, metric.limit) if metric.limit else None
            if position is not None and limit is not None and position >= limit:
                continue
            kept.append(metric)
        return MetricPlan(tuple(kept), self.settings, self.seed, self.zero_state)


class _Probes:
    """Re-explains changed inputs for the probe metrics (white-box models only)."""

    def __init__(self, model, explainer, prepared, target, attribution, seed: int) -> None:
        self.model, self.explainer, self.prepared, self.target, self.attribution, self.seed = model, explainer, prepared, target, attribution, seed

    def influence(self):
        from synfaith.runs.probes import influence_probe

        return influence_probe(self.model, self.explainer, self.prepared, self.target, self.attribution)

    def stability(self, *, sigma: float, draws: int, top_fraction: float):
        from synfaith.runs.probes import stability_probe

        return stability_probe(
            self.model, self.explainer, self.prepared, self.target, self.attribution, sigma=sigma, draws=draws, top_fraction=top_fraction, seed=self.seed
        )


def _run_metric(metric: Metric, game, inputs: MetricInputs) -> dict[str, Any]:
    """A metric's value columns plus its cost and timing columns."""
    start = time.perf_counter()
    if metric.uses_game:
        with game.metered() as cost:
            values = metric.compute(inputs)
        values |= {f"{metric.name}_coalitions": cost.coalitions, f"{metric.name}_evaluations": cost.evaluations}
    else:
        values = metric.compute(inputs)
    return values | {f"{metric.name}_seconds": time.perf_counter() - start}


def score_instance(
    model,
    row: Row,
    *,
    explainers: Mapping[str, Any],
    plan: MetricPlan,
    model_label: str = "",
    dataset_label: str = "",
    index: int = 0,
) -> list[dict[str, Any]]:
    """Rows, one per explainer key in ``explainers``, for one dataset row.

    Args:
        model: a :class:`~synfaith.contracts.GameModel` (white-box for probe metrics).
        row: an :class:`~synfaith.data.Instance` or an ``InvalidRow`` (a failure row per explainer).
        explainers: explainer instances by row key.
        plan: the metrics (already limited to this instance's position) and settings; a
            metric the model cannot serve (a white-box metric on a black-box model) is skipped
            and its columns stay empty.
        model_label, dataset_label, index: identify the row.
    """
    base: dict[str, Any] = {"model": model_label, "dataset": dataset_label, "instance_index": index, "worker": WORKER}
    base |= plan.zero_state.record()

    def failed(stage: str, message: str) -> list[dict[str, Any]]:
        return [base | {"explainer": name, "status": "failed", "stage": stage, "message": message} for name in explainers]

    if isinstance(row, InvalidRow):
        base["instance_id"] = row.id
        return failed("load", redact(row.reason))
    instance = row
    base |= {
        "instance_id": instance.id,
        "question": instance.question,
        "reference_answer": instance.answer,
        "meta": json.dumps(instance.meta, default=_json_default, sort_keys=True),
    }
    try:
        prepared = model.prepare(instance, plan.zero_state)
    except Exception as error:  # noqa: BLE001 - any bad input becomes a failure row
        return failed("prepare", error_text(error))
    base |= {
        "n_image_units": prepared.n_image_units,
        "n_text_units": prepared.n_text_units,
        "unit_grid_rows": int(prepared.unit_grid.shape[0]),
        "unit_grid_cols": int(prepared.unit_grid.shape[1]),
        "unit_grid": prepared.unit_grid.ravel().astype(int).tolist(),
        "text_units": prepared.text_unit_strings(),
    }
    try:
        target = model.generate_target(prepared)
    except Exception as error:  # noqa: BLE001
        return failed("generate", error_text(error))
    base |= {"response": target.response, "answer": target.answer, "correct": target.correct}
    base["answer_tokens"] = int(target.answer_ids.numel())
    if getattr(target, "token_log_probs", ()):  # open answers (docs/open-answers.md): sum = log v(V, T)
        base |= {"answer_token_log_probs": json.dumps(list(target.token_log_probs)), "correct_by": target.correct_by}

    try:
        game = model.game(prepared, target)  # the one cache of this instance
    except Exception as error:  # noqa: BLE001 - e.g. an endpoint that refuses the target
        return failed("game", error_text(error))
    base |= {"inert_image_units": int(game.inert_image.sum()), "inert_text_units": int(game.inert_text.sum())}
    capabilities = set(getattr(model, "capabilities", ()))
    metrics = [m for m in plan.metrics if m.needs - {"probes"} <= capabilities]
    for metric in (m for m in metrics if m.scope == "instance"):
        try:
            base |= _run_metric(metric, game, MetricInputs(game, plan.settings, plan.seed))
        except Exception as error:  # noqa: BLE001
            return failed(metric.name, error_text(error))

    ground_truth = None
    if instance.ground_truth is not None and any(m.uses_ground_truth for m in metrics):
        try:
            ground_truth = model.ground_truth_units(prepared)
        except Exception as error:  # noqa: BLE001
            return failed("ground_truth", error_text(error))

    rows = []
    for key, explainer in explainers.items():
        record = dict(base, explainer=key)
        try:
            attribution = explainer.explain(model, prepared, target, game=game)
        except Exception as error:  # noqa: BLE001
            rows.append(record | {"status": "failed", "stage": "explain", "message": error_text(error)})
            continue
        record |= {
            "image_scores": attribution.image_scores.tolist(),
            "text_scores": attribution.text_scores.tolist(),
            "explain_seconds": attribution.seconds,
            "explain_model_calls": attribution.model_calls,
            "explain_forward_passes": attribution.forward_passes,
            "explain_backward_passes": attribution.backward_passes,
        }
        if attribution.raw.get("interaction_matrix") is not None:  # kept for the report's interaction figure
            record["interaction_matrix"] = np.asarray(attribution.raw["interaction_matrix"], dtype=float).ravel().tolist()
        values: dict[str, Any] = {}
        failure = None
        for metric in (m for m in metrics if m.scope == "attribution"):
            probes = _Probes(model, explainer, prepared, target, attribution, plan.seed) if "probes" in metric.needs else None
            inputs = MetricInputs(game, plan.settings, plan.seed, attribution.image_scores, attribution.text_scores, probes, ground_truth)
            try:
                values |= _run_metric(metric, game, inputs)
            except Exception as error:  # noqa: BLE001
                if metric.error_column is None:
                    failure = error_text(error)
                    break
                # the row's other metrics stay valid: the reason is recorded beside them
                previous = values.get(metric.error_column)
                values[metric.error_column] = error_text(error) if previous is None else f"{previous}; {error_text(error)}"
        if failure is not None:
            rows.append(record | {"status": "failed", "stage": "metrics", "message": failure})
            continue
        rows.append(record | values | {"status": "ok"})
    for row_record in rows:
        row_record["instance_evaluations"] = game.evaluations
        row_record["instance_token_forwards"] = game.token_forwards
    return rows
