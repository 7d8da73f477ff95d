"""The metric registry: a metric is one spec and one registration.

A :class:`Metric` declares its name, its scope (once per ``instance``, or once per
``attribution`` — an explainer's ranking of that instance), what it needs (``"game"``; for
re-explaining changed inputs ``"white_box"`` and ``"probes"``), its settings (typed, with
defaults and bounds) and the row columns it writes. The run config's metric list and its
validation, the store's row schema, the per-instance pipeline and the report's metric list are
all derived from this registry, so a new metric needs no edit anywhere else::

    from pydantic import Field
    from synfaith.metrics import Column, Metric, register_metric

    def _compute(inputs):
        v = inputs.game.values([[True] * inputs.game.n_image], [[False] * inputs.game.n_text])
        return {"image_only_value": float(v[0])}

    register_metric(Metric(name="image_only", scope="instance", needs=frozenset({"game"}),
                           compute=_compute, columns=(Column("image_only_value", "float"),)))

Metrics stay model-free: they see a :class:`MetricInputs` — the instance's shared game, the
explainer's scores, the settings — and, for probe metrics, an object supplied by the runs
layer that re-explains changed inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from synfaith.registry import Registry

COLUMN_TYPES = ("float", "int", "str", "bool", "float_list", "int_list", "str_list")


@dataclass(frozen=True)
class Column:
    """A row column a metric writes.

    Attributes:
        name: the column name (unique across metrics unless declared identically).
        type: one of ``float``, ``int``, ``str``, ``bool``, ``float_list``, ``int_list``, ``str_list``.
        kind: ``value`` (a result), ``cost`` (evaluations, counts) or ``timing`` (seconds).
        description: one line for the docs and the report.
    """

    name: str
    type: str
    kind: Literal["value", "cost", "timing"] = "value"
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"column {self.name!r}: type must be one of {', '.join(COLUMN_TYPES)}, got {self.type!r}")


@dataclass(frozen=True)
class MetricInputs:
    """What a metric's ``compute`` sees.

    Attributes:
        game: the instance's game, shared (one cache) by every metric and explainer of the instance.
        settings: the run's metric settings, by attribute (``settings.steps``).
        seed: the run's seed.
        image_scores, text_scores: the explainer's scores (attribution-scope metrics only).
        probes: re-explains changed inputs (probe metrics on white-box models only), with
            ``influence()`` and ``stability(sigma=, draws=, top_fraction=)``.
        ground_truth: ``(image coverage float[m], deciding query units bool[n])`` mapped onto
            the model's units, for metrics that declare ``uses_ground_truth`` (None when the
            instance has no planted evidence).
    """

    game: Any
    settings: Any
    seed: int = 0
    image_scores: Any = None
    text_scores: Any = None
    probes: Any = None
    ground_truth: Any = None


@dataclass(frozen=True)
class Metric:
    """One metric's declaration.

    Attributes:
        name: the registry name, as listed in ``metrics.compute``.
        scope: ``instance`` (once per instance, e.g. the redundancy profile) or ``attribution``.
        needs: capabilities the model must have (``game``, ``white_box``) and ``probes`` when
            it re-explains changed inputs.
        compute: ``compute(MetricInputs) -> {column: value}`` (the value columns only).
        columns: the value columns it writes; cost and timing columns are added (see
            :meth:`all_columns`).
        settings: ``{name: (type, pydantic.Field(default, bounds, description=...))}``; a
            setting shared by several metrics is declared identically by each.
        limit: a setting that caps how many instances of each dataset the metric runs on.
        error_column: where an error is recorded with the row kept ``ok`` (None: the row fails).
        uses_ground_truth: it reads the instance's planted evidence (``MetricInputs.ground_truth``).
        label: a short name for tables and the report.
        description: one line (the formula lives in the compute function's docstring).
    """

    name: str
    scope: Literal["instance", "attribution"]
    needs: frozenset[str]
    compute: Callable[[MetricInputs], dict[str, Any]]
    columns: tuple[Column, ...]
    settings: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    limit: str | None = None
    error_column: str | None = None
    uses_ground_truth: bool = False
    label: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.scope not in ("instance", "attribution"):
            raise ValueError(f"metric {self.name!r}: scope must be 'instance' or 'attribution', got {self.scope!r}")
        if self.limit is not None and self.limit not in self.settings:
            raise ValueError(f"metric {self.name!r}: limit {self.limit!r} is not one of its settings")

    @property
    def uses_game(self) -> bool:
        return "game" in self.needs

    def cost_columns(self) -> tuple[Column, ...]:
        """``{name}_coalitions``, ``{name}_evaluations`` (game metrics) and ``{name}_seconds``."""
        columns = [Column(f"{self.name}_seconds", "float", "timing", f"wall time of {self.name}")]
        if self.uses_game:
            columns += [
                Column(f"{self.name}_coalitions", "int", "cost", f"distinct coalitions {self.name} asked the game for"),
                Column(f"{self.name}_evaluations", "int", "cost", "of those, the ones not already in the instance's cache"),
            ]
        return tuple(columns)

    def all_columns(self) -> tuple[Column, ...]:
        extra = (Column(self.error_column, "str", "value", f"why {self.name} could not be computed"),) if self.error_column else ()
        return self.columns + self.cost_columns() + extra


def _validate(name: str, metric: Any) -> None:
    if not isinstance(metric, Metric):
        raise TypeError(f"metric {name!r} must be a synfaith.metrics.Metric, got {type(metric).__name__}")
    if metric.name != name:
        raise ValueError(f"metric registered as {name!r} is named {metric.name!r}")


METRICS: Registry[Metric] = Registry(
    "metric",
    {
        "redundancy": "synfaith.metrics.redundancy:METRIC",
        "unimodal": "synfaith.metrics.unimodal:METRIC",
        "fsyn": "synfaith.metrics.synergy:METRIC",
        "sii": "synfaith.metrics.sii:METRIC",
        "influence": "synfaith.metrics.probes:INFLUENCE",
        "stability": "synfaith.metrics.probes:STABILITY",
        "pointing": "synfaith.metrics.pointing:METRIC",
    },
    validate=_validate,
)
BUILTIN_ORDER = ("redundancy", "unimodal", "fsyn", "sii", "influence", "stability", "pointing")


def register_metric(metric: Metric) -> Metric:
    """Register a metric (see the module docstring); returns it."""
    _validate(metric.name, metric)
    all_metric_columns()  # built-ins loaded first, so a clash is found now
    taken = {c.name: m.name for m in _loaded_metrics() for c in m.all_columns()}
    for column in metric.all_columns():
        owner = taken.get(column.name)
        if owner is not None and owner != metric.name and column not in _columns_of(owner):
            raise ValueError(f"metric {metric.name!r}: column {column.name!r} is already written by metric {owner!r}")
    return METRICS.register(metric.name, metric)


def metric_names() -> list[str]:
    """Every registered metric, built-ins first in their documented order, then plugins."""
    names = METRICS.names()
    return [n for n in BUILTIN_ORDER if n in names] + [n for n in names if n not in BUILTIN_ORDER]


def get_metric(name: str) -> Metric:
    """A metric by name (a RegistryError lists the known ones)."""
    return METRICS[name]


def _loaded_metrics() -> list[Metric]:
    return [METRICS[name] for name in metric_names()]


def _columns_of(name: str) -> tuple[Column, ...]:
    return METRICS[name].all_columns()


def all_metric_columns() -> list[Column]:
    """Every column any registered metric writes (each once), in registry order."""
    seen: dict[str, Column] = {}
    for metric in _loaded_metrics():
        for column in metric.all_columns():
            seen.setdefault(column.name, column)
    return list(seen.values())


def metric_settings() -> dict[str, tuple[Any, Any]]:
    """Every registered metric's settings, merged; a clash of declarations is an error."""
    merged: dict[str, tuple[Any, Any]] = {}
    owners: dict[str, str] = {}
    for metric in _loaded_metrics():
        for key, (annotation, info) in metric.settings.items():
            if key in merged:
                previous = merged[key]
                if previous[0] != annotation or getattr(previous[1], "default", None) != getattr(info, "default", None):
                    raise ValueError(f"setting {key!r} is declared differently by metrics {owners[key]!r} and {metric.name!r}")
                continue
            merged[key], owners[key] = (annotation, info), metric.name
    return merged
