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

_LIST = pa.list_(pa.float64())
ROW_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("dataset", pa.string()),
        ("instance_id", pa.string()),
        ("explainer", pa.string()),
        ("instance_index", pa.int64()),
        ("status", pa.string()),  # "ok" or "failed"
        ("stage", pa.string()),  # where a failure happened: load, prepare, generate, redundancy, explain, metrics
        ("message", pa.string()),
        ("question", pa.string()),
        ("reference_answer", pa.string()),
        ("response", pa.string()),
        ("answer", pa.string()),
        ("correct", pa.bool_()),
        ("meta", pa.string()),  # JSON
        ("n_image_units", pa.int64()),
        ("n_text_units", pa.int64()),
        ("v_full", pa.float64()),
        ("v_image_only", pa.float64()),
        ("v_text_only", pa.float64()),
        ("v_empty", pa.float64()),
        ("modality_dividend", pa.float64()),
        ("fsyn", pa.float64()),
        ("fsyn_deletion", pa.float64()),
        ("fsyn_insertion", pa.float64()),
        ("fsyn_deletion_curve", _LIST),
        ("fsyn_insertion_curve", _LIST),
        ("visual_deletion", pa.float64()),
        ("visual_insertion", pa.float64()),
        ("visual_srg", pa.float64()),
        ("textual_deletion", pa.float64()),
        ("textual_insertion", pa.float64()),
        ("textual_srg", pa.float64()),
        ("visual_deletion_curve", _LIST),
        ("visual_insertion_curve", _LIST),
        ("textual_deletion_curve", _LIST),
        ("textual_insertion_curve", _LIST),
        ("sii", pa.float64()),
        ("sii_moebius", pa.float64()),
        ("sii_per_step", _LIST),
        ("influence_text_without_image", pa.float64()),
        ("influence_image_without_text", pa.float64()),
        ("stability_spearman", pa.float64()),
        ("stability_top_k", pa.float64()),
        ("stability_draws", pa.int64()),
        ("probe_seconds", pa.float64()),
        ("probe_message", pa.string()),  # why influence/stability could not be computed (the row stays ok)
        ("image_scores", _LIST),
        ("text_scores", _LIST),
        ("unit_grid_rows", pa.int64()),
        ("unit_grid_cols", pa.int64()),
        ("unit_grid", pa.list_(pa.int64())),  # the visual unit at each cell, row-major
        ("text_units", pa.list_(pa.string())),  # the query text of each text unit
        ("explain_seconds", pa.float64()),
        ("explain_model_calls", pa.int64()),
        # *_evaluations: the coalitions each metric evaluated, on its own fresh game (its cost)
        ("fsyn_seconds", pa.float64()),
        ("fsyn_evaluations", pa.int64()),
        ("unimodal_seconds", pa.float64()),
        ("unimodal_evaluations", pa.int64()),
        ("sii_seconds", pa.float64()),
        ("sii_evaluations", pa.int64()),
        ("worker", pa.string()),
    ]
)
COLUMNS = tuple(ROW_SCHEMA.names)
TIMING_COLUMNS = ("explain_seconds", "fsyn_seconds", "unimodal_seconds", "sii_seconds", "probe_seconds", "worker")


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
        table = pa.Table.from_pylist([{c: row.get(c) for c in COLUMNS} for row in rows], schema=ROW_SCHEMA)
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
        if not shards:
            return pd.DataFrame(columns=list(COLUMNS))
        frame = pa.concat_tables([pq.read_table(s, schema=ROW_SCHEMA) for s in shards]).to_pandas()
        # a key appears twice only after a retried failure: keep its ok row
        frame = frame.sort_values("status", key=lambda status: status != "ok", kind="stable")
        return frame.drop_duplicates(subset=list(KEY), keep="first").sort_index().reset_index(drop=True)

    def config(self) -> dict[str, Any]:
        return yaml.safe_load((self.run_dir / "config.yaml").read_text(encoding="utf-8"))
