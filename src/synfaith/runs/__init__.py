"""Runs: a validated config (:mod:`~synfaith.runs.config`) in, a run directory of rows out.

:func:`run` plans work units, skips finished keys, and executes locally or on Ray;
:class:`RunStore` reads and writes the run directory.
"""

from synfaith.runs.config import ConfigError, RunConfig, load_config, parse_config
from synfaith.runs.runner import RunSummary, WorkUnit, parse_shard, plan_units, run
from synfaith.runs.store import COLUMNS, KEY, ROW_SCHEMA, TIMING_COLUMNS, RunStore

__all__ = [
    "COLUMNS",
    "KEY",
    "ROW_SCHEMA",
    "TIMING_COLUMNS",
    "ConfigError",
    "RunConfig",
    "RunStore",
    "RunSummary",
    "WorkUnit",
    "load_config",
    "parse_config",
    "parse_shard",
    "plan_units",
    "run",
]
