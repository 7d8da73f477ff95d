"""A run directory: resolved config, environment, and atomically written Parquet result shards.

Layout::

    RUN_DIR/
      config.yaml         the resolved configuration (every default filled in)
      environment.json    Python, platform and library versions of the process that started it
      rows/*.parquet      result shards; each written to a temporary name, then renamed

A shard is complete or absent, never half-written, so a run killed at any moment loses only
the rows in flight; re-running skips every (model, dataset, instance, explainer) key that a
shard already holds. Several processes (Ray workers, SLURM array tasks) may write into the
same directory: shard names carry a random suffix.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

KEY = ("model", "dataset", "instance_id", "explainer")
VALUE_SETTINGS = ("seed", "metrics")  # config sections that change row values

_ARROW_TYPES = {
    "float": pa.float64(),
    "int": pa.int64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "float_list": pa.list_(pa.float64()),
    "int_list": pa.list_(pa.int64()),
    "str_list": pa.list_(pa.string()),
}

# The columns every row has, whatever metrics ran: (name, type, kind).
BASE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("model", "str", "value"),
    ("dataset", "str", "value"),
    ("instance_id", "str", "value"),
    ("explainer", "str", "value"),
    ("instance_index", "int", "value"),
    ("status", "str", "value"),  # "ok" or "failed"
    ("stage", "str", "value"),  # where a failure happened: load, prepare, generate, <instance metric>, explain, metrics
    ("message", "str", "value"),
    ("question", "str", "value"),
    ("reference_answer", "str", "value"),
    ("response", "str", "value"),
    ("answer", "str", "value"),
    ("correct", "bool", "value"),
    ("meta", "str", "value"),  # JSON
    ("n_image_units", "int", "value"),
    ("n_text_units", "int", "value"),
    ("zero_state_blur", "float", "value"),  # the visual zero-state's blur, a fraction of the longer side
    ("zero_state_text", "str", "value"),  # the textual zero-state ("pad")
    ("image_scores", "float_list", "value"),
    ("text_scores", "float_list", "value"),
    ("unit_grid_rows", "int", "value"),
    ("unit_grid_cols", "int", "value"),
    ("unit_grid", "int_list", "value"),  # the visual unit at each cell, row-major
    ("text_units", "str_list", "value"),  # the query text of each text unit
    ("explain_seconds", "float", "timing"),
    ("explain_model_calls", "int", "cost"),
    ("instance_evaluations", "int", "cost"),  # distinct coalitions the instance's one game evaluated, in all
    ("worker", "str", "timing"),
)


def row_schema() -> pa.Schema:
    """The row schema: the base columns, then every registered metric's columns (plugins included)."""
    from synfaith.metrics.registry import all_metric_columns

    fields = [(name, _ARROW_TYPES[kind]) for name, kind, _ in BASE_COLUMNS]
    fields += [(c.name, _ARROW_TYPES[c.type]) for c in all_metric_columns() if c.name not in {f[0] for f in fields}]
    return pa.schema(fields)


def column_kinds() -> dict[str, str]:
    """``{column: "value" | "cost" | "timing"}`` for every column of :func:`row_schema`."""
    from synfaith.metrics.registry import all_metric_columns

    kinds = {name: kind for name, _, kind in BASE_COLUMNS}
    kinds.update({c.name: c.kind for c in all_metric_columns() if c.name not in kinds})
    return kinds


def timing_columns() -> tuple[str, ...]:
    """Columns that vary from run to run on the same inputs (wall times, the worker)."""
    return tuple(name for name, kind in column_kinds().items() if kind == "timing")


def cost_columns() -> tuple[str, ...]:
    """Columns that count work (evaluations, model calls): they follow the cache, not the result."""
    return tuple(name for name, kind in column_kinds().items() if kind == "cost")


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A shard's table with every column of ``schema`` (absent ones null), in schema order."""
    columns = []
    for schema_field in schema:
        if schema_field.name in table.column_names:
            columns.append(table.column(schema_field.name).cast(schema_field.type))
        else:
            columns.append(pa.nulls(table.num_rows, schema_field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def environment() -> dict[str, Any]:
    """Versions and platform of this process, for the record."""
    from importlib import metadata

    versions = {}
    for package in ("synfaith", "torch", "transformers", "shapiq", "captum", "lxt", "numpy", "pyarrow", "pydantic", "ray"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    cuda = None
    try:
        import torch

        cuda = torch.version.cuda if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover
        pass
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cuda": cuda,
        "versions": versions,
    }


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.rows_dir = self.run_dir / "rows"

    def initialise(self, resolved_config: dict[str, Any]) -> None:
        """Create the directory and write the resolved config and the environment (atomically).

        Resuming with settings that change metric values (seed, metrics) would mix incomparable
        rows in one directory, so it is refused; adding models, datasets or explainers is fine.
        """
        existing = self.run_dir / "config.yaml"
        if existing.is_file() and self.shards():
            previous = yaml.safe_load(existing.read_text(encoding="utf-8")) or {}
            for key in VALUE_SETTINGS:
                if previous.get(key) != resolved_config.get(key):
                    raise ValueError(
                        f"{self.run_dir} was run with other {key!r} settings ({previous.get(key)!r}, now "
                        f"{resolved_config.get(key)!r}); use a new output directory to compare settings"
                    )
        self.rows_dir.mkdir(parents=True, exist_ok=True)
        self._write_text("config.yaml", yaml.safe_dump(resolved_config, sort_keys=False))
        self._write_text("environment.json", json.dumps(environment(), indent=2))

    def _write_text(self, name: str, text: str) -> None:
        temporary = self.run_dir / f".{name}.{uuid.uuid4().hex}.tmp"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.run_dir / name)

    def write_rows(self, rows: list[dict[str, Any]], label: str) -> Path | None:
        """Write rows as one shard: a temporary file, then an atomic rename."""
        if not rows:
            return None
        self.rows_dir.mkdir(parents=True, exist_ok=True)
        schema = row_schema()
        table = pa.Table.from_pylist([{c: row.get(c) for c in schema.names} for row in rows], schema=schema)
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)
        final = self.rows_dir / f"{safe}-{uuid.uuid4().hex[:12]}.parquet"
        temporary = self.rows_dir / f".{final.name}.tmp"
        pq.write_table(table, temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        return final

    def shards(self) -> list[Path]:
        return sorted(self.rows_dir.glob("*.parquet")) if self.rows_dir.is_dir() else []

    def finished_keys(self, retry_failed: bool = False) -> set[tuple[str, str, str, str]]:
        """Every (model, dataset, instance_id, explainer) some shard holds (only ok rows with ``retry_failed``)."""
        keys: set[tuple[str, str, str, str]] = set()
        for shard in self.shards():
            table = pq.read_table(shard, columns=[*KEY, "status"])
            statuses = table.column("status").to_pylist()
            for key, status in zip(zip(*(table.column(k).to_pylist() for k in KEY)), statuses):
                if status == "ok" or not retry_failed:
                    keys.add(key)
        return keys

    def read_rows(self):
        """All rows as a pandas DataFrame, one per key (an ok row wins over a failure row of the same key)."""
        import pandas as pd

        shards = self.shards()
        schema = row_schema()
        if not shards:
            return pd.DataFrame(columns=schema.names)
        frame = pa.concat_tables([_conform(pq.read_table(s), schema) for s in shards]).to_pandas()
        # a key appears twice only after a retried failure: keep its ok row
        frame = frame.sort_values("status", key=lambda status: status != "ok", kind="stable")
        return frame.drop_duplicates(subset=list(KEY), keep="first").sort_index().reset_index(drop=True)

    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.run_dir / "config.yaml").read_text(encoding="utf-8"))
