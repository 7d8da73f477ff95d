"""Runs: a validated config (:mod:`~synfaith.runs.config`) in, a run directory of rows out.

:func:`run` plans work units, skips finished keys, and executes locally or on Ray; every
driver scores an instance through the one pipeline, :func:`~synfaith.runs.pipeline.score_instance`;
:class:`RunStore` reads and writes the run directory (its row schema derives from the metric
registry: :func:`row_schema`).
"""

from synfaith.runs.config import ConfigError, RunConfig, load_config, parse_config
from synfaith.runs.runner import RunSummary, WorkUnit, parse_shard, plan_units, run
from synfaith.runs.store import KEY, RunStore, cost_columns, row_schema, timing_columns

__all__ = [
    "KEY",
    "ConfigError",
    "RunConfig",
    "RunStore",
    "RunSummary",
    "WorkUnit",
    "cost_columns",
    "load_config",
    "parse_config",
    "parse_shard",
    "plan_units",
    "row_schema",
    "run",
    "timing_columns",
]
