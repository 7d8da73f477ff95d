"""A run directory: resolved config, environment, and atomically written Parquet result shards.

Layout::

    RUN_DIR/
      config.yaml         the resolved configuration (every default filled in, secrets as ***)
      identity.json       the fingerprinted settings of every model, dataset and explainer (runs/identity.py)
      environment.json    Python, platform and library versions of the process that started it
      rows/*.parquet      result shards; each written to a temporary name, then renamed
      .lock               the run lock (runs/lock.py)

A shard is complete or absent, never half-written, so a run killed at any moment loses only
the rows in flight; re-running skips every (model, dataset, instance, explainer) key that a
shard already holds *with the fingerprint the current settings give it* — a row of other
settings is never reused, and :meth:`RunStore.read_rows` hides rows whose settings were
superseded. Several processes (Ray workers, SLURM array tasks) may write into the same
directory: shard names carry a random suffix. Temporary files a killed process left behind
are swept when the next run starts.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from synfaith.runs.identity import RunIdentity, changed_fields
from synfaith.secrets import redact

KEY = ("model", "dataset", "instance_id", "explainer")
STALE_TEMPORARY_SECONDS = 600  # a temporary file this old belongs to no live writer


class RunSettingsChanged(ValueError):
    """A run directory holds rows of settings other than the ones given now."""

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
    ("correct_by", "str", "value"),  # how an open answer matched its reference: exact, contains (docs/open-answers.md)
    ("answer_tokens", "int", "value"),  # tokens of the scored answer (the game's joint probability is over them)
    ("answer_token_log_probs", "str", "value"),  # JSON list: each answer token's log-probability on the clean input (open answers)
    ("meta", "str", "value"),  # JSON
    ("n_image_units", "int", "value"),
    ("n_text_units", "int", "value"),
    ("inert_image_units", "int", "value"),  # visual units whose masking changes no pixel (Game.declare_inert)
    ("inert_text_units", "int", "value"),  # query units that already are the pad token
    ("zero_state_blur", "float", "value"),  # the visual zero-state's blur, a fraction of the longer side
    ("zero_state_text", "str", "value"),  # the textual zero-state ("pad")
    ("image_scores", "float_list", "value"),
    ("text_scores", "float_list", "value"),
    ("unit_grid_rows", "int", "value"),
    ("unit_grid_cols", "int", "value"),
    ("unit_grid", "int_list", "value"),  # the visual unit at each cell, row-major
    ("text_units", "str_list", "value"),  # the query text of each text unit
    ("interaction_matrix", "float_list", "value"),  # an explainer's image × text unit interactions (MultiSHAP), row-major [n_image_units, n_text_units]
    ("explain_seconds", "float", "timing"),
    ("explain_model_calls", "int", "cost"),
    ("explain_forward_passes", "int", "cost"),  # sequences the model ran forward for the explanation (its own count)
    ("explain_backward_passes", "int", "cost"),  # sequences whose gradient went back through the model
    ("instance_evaluations", "int", "cost"),  # distinct coalitions the instance's one game evaluated, in all
    ("instance_token_forwards", "int", "cost"),  # tokens its game ran through the model (prefix sharing counted)
    ("worker", "str", "timing"),
    ("fingerprint", "str", "identity"),  # the settings that produced the row (runs/identity.py)
)


def row_schema() -> pa.Schema:
    """The row schema: the base columns, then every registered metric's columns (plugins included)."""
    from synfaith.metrics.registry import all_metric_columns

    fields = [(name, _ARROW_TYPES[kind]) for name, kind, _ in BASE_COLUMNS]
    fields += [(c.name, _ARROW_TYPES[c.type]) for c in all_metric_columns() if c.name not in {f[0] for f in fields}]
    return pa.schema(fields)


def column_kinds() -> dict[str, str]:
    """``{column: "value" | "cost" | "timing" | "identity"}`` for every column of :func:`row_schema`."""
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

    def initialise(
        self, resolved_config: dict[str, Any], identity: RunIdentity | None = None, *, rerun_changed: bool = False, sole_writer: bool = True
    ) -> list[str]:
        """Create the directory, sweep debris, and write the config, the identity and the environment.

        Args:
            resolved_config: the config as plain data (secrets are redacted before writing).
            identity: the fingerprinted settings of this run (None: not recorded).
            rerun_changed: when the directory holds rows of settings that differ from
                ``identity``, accept the new settings (their rows run again; the old ones are
                ignored) instead of refusing.
            sole_writer: no other process writes here now (a whole run under the exclusive
                lock), so every temporary file is debris; else only old ones are swept.

        Returns:
            the changed fields (empty when nothing changed).

        Raises:
            RunSettingsChanged: settings changed and ``rerun_changed`` is False.
        """
        changes: list[str] = []
        previous = RunIdentity.read(self.run_dir)
        if identity is not None and previous is None and self.shards():
            # rows of an earlier synfaith carry no fingerprint: their settings cannot be checked
            changes = ["rows written without fingerprints (by an earlier synfaith)"]
            if not rerun_changed:
                raise RunSettingsChanged(
                    f"{self.run_dir} holds rows written before run fingerprints existed, so their settings cannot be "
                    "checked. Pass --rerun-changed to run them again under the current settings, or use another --output_path"
                )
        if identity is not None and previous is not None and self.shards():
            changes = changed_fields(previous, identity)
            if changes and not rerun_changed:
                raise RunSettingsChanged(
                    f"{self.run_dir} holds rows of other settings — changed: {'; '.join(changes)}. "
                    "Pass --rerun-changed to run the affected rows again under the new settings (the old rows are then "
                    "ignored), or use another --output_path to keep both"
                )
            # labels this run does not name keep their recorded settings
            merged = previous.to_json()
            for section in ("models", "datasets", "explainers"):
                merged[section] = {**merged[section], **getattr(identity, section)}
            merged["run"] = identity.run
            identity = RunIdentity.from_json(merged)
        self.rows_dir.mkdir(parents=True, exist_ok=True)
        self.sweep_temporary_files(older_than=0.0 if sole_writer else STALE_TEMPORARY_SECONDS)
        self._write_text("config.yaml", yaml.safe_dump(redact(resolved_config), sort_keys=False))
        if identity is not None:
            self._write_text("identity.json", json.dumps(identity.to_json(), indent=2, default=str))
        self._write_text("environment.json", json.dumps(redact(environment()), indent=2))
        return changes

    def sweep_temporary_files(self, older_than: float = 0.0) -> list[Path]:
        """Delete temporary files (``.*.tmp``) a killed writer left here, if at least ``older_than`` s old."""
        swept = []
        now = time.time()
        for folder in (self.run_dir, self.rows_dir):
            for path in folder.glob(".*.tmp") if folder.is_dir() else ():
                try:
                    if now - path.stat().st_mtime >= older_than:
                        path.unlink()
                        swept.append(path)
                except FileNotFoundError:  # its writer renamed it meanwhile
                    continue
        return swept

    def _write_text(self, name: str, text: str) -> None:
        temporary = self.run_dir / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self.run_dir / name)
        except BaseException:
            temporary.unlink(missing_ok=True)  # e.g. a full disk: no 0-byte debris
            raise

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
        try:
            pq.write_table(table, temporary)
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return final

    def shards(self) -> list[Path]:
        return sorted(self.rows_dir.glob("*.parquet")) if self.rows_dir.is_dir() else []

    def finished_keys(
        self, retry_failed: bool = False, fingerprints: Mapping[tuple[str, str, str], str] | None = None
    ) -> set[tuple[str, str, str, str]]:
        """Every (model, dataset, instance_id, explainer) some shard holds (only ok rows with ``retry_failed``).

        With ``fingerprints`` (``{(model, dataset, explainer): fingerprint}``), a row counts only
        when it carries the fingerprint of its (model, dataset, explainer).
        """
        keys: set[tuple[str, str, str, str]] = set()
        for shard in self.shards():
            stamped = "fingerprint" in pq.read_schema(shard).names
            columns = [*KEY, "status"] + (["fingerprint"] if stamped else [])
            table = pq.read_table(shard, columns=columns)
            statuses = table.column("status").to_pylist()
            stamps = table.column("fingerprint").to_pylist() if stamped else [None] * table.num_rows
            for key, status, stamp in zip(zip(*(table.column(k).to_pylist() for k in KEY)), statuses, stamps):
                if fingerprints is not None and fingerprints.get((key[0], key[1], key[3])) != stamp:
                    continue
                if status == "ok" or not retry_failed:
                    keys.add(key)
        return keys

    def read_rows(self, *, include_stale: bool = False):
        """All rows as a pandas DataFrame, one per key (an ok row wins over a failure row of the same key).

        Rows whose fingerprint is not the one ``identity.json`` records for their (model,
        dataset, explainer) — left by settings that were changed since — are left out unless
        ``include_stale`` (then one row per key and fingerprint); a directory written before
        fingerprints existed is read whole.
        """
        import pandas as pd

        shards = self.shards()
        schema = row_schema()
        if not shards:
            return pd.DataFrame(columns=schema.names)
        frame = pa.concat_tables([_conform(pq.read_table(s), schema) for s in shards]).to_pandas()
        identity = None if include_stale else RunIdentity.read(self.run_dir)
        if identity is not None and frame["fingerprint"].notna().any():
            current = identity.fingerprints()
            expected = [current.get((m, d, e)) for m, d, e in zip(frame["model"], frame["dataset"], frame["explainer"])]
            frame = frame[frame["fingerprint"].to_numpy() == pd.Series(expected, index=frame.index).to_numpy()]
        # a key appears twice only after a retried failure or a rerun of changed settings: keep its ok row
        frame = frame.sort_values("status", key=lambda status: status != "ok", kind="stable")
        subset = [*KEY, "fingerprint"] if include_stale else list(KEY)
        return frame.drop_duplicates(subset=subset, keep="first").sort_index().reset_index(drop=True)

    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.run_dir / "config.yaml").read_text(encoding="utf-8"))
