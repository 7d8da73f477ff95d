"""Run identity: a fingerprint of everything that changes a row, so that no stale row is ever reused.

A row's fingerprint hashes the parts that produced it:

* **run** — the seed, the metric settings (``metrics``), the zero-state and the synfaith version;
* **model** — its path (credentials removed), the dtype it runs in (``auto`` resolved) and the
  adapter options that change outputs (not ``batch_size``, ``device``, concurrency, timeouts or
  keys), and the checkpoint's hash;
* **dataset** — kind, options (with a hash of every file they name), how its answers are read
  (``answer_type``, ``max_answer_tokens``, when set) and a hash of the dataset's instance ids.
  The ``limit`` and subsample ``seed`` only choose *which* instances run, not what a row of one
  holds, so raising the limit reuses the rows already there;
* **explainer** — name and options (the run's seed filled in where it applies).

``RUN_DIR/identity.json`` holds the parts of the last run; a row is reused only when its
fingerprint equals the one the current settings give its (model, dataset, explainer), and
:func:`changed_fields` names what differs when they do not.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synfaith.secrets import is_secret_name, redact, url_credentials

# adapter options that change how fast, not what: they are not part of a row's identity
NON_OUTPUT_OPTIONS = frozenset(
    {"batch_size", "device", "max_concurrency", "timeout", "retries", "backoff", "api_key_env", "hub_timeout", "prefix_cache", "memory_budget", "internal_batch_size"}
)
_FULL_HASH_BYTES = 64 * 1024 * 1024  # files above this are identified by name, size and mtime, not content


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (small files) or of its size and mtime (large ones)."""
    stat = path.stat()
    if stat.st_size > _FULL_HASH_BYTES:
        return _digest({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def checkpoint_hash(directory: Path) -> str:
    """A checkpoint folder's identity: every file's name with its content hash (size/mtime if large)."""
    entries = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")):
        entries[str(path.relative_to(directory))] = file_hash(path)
    return _digest(entries)


def _hash_named_files(options: Mapping[str, Any]) -> dict[str, str]:
    """A content hash of each option value that names an existing file."""
    hashes = {}
    for key, value in options.items():
        if isinstance(value, str) and len(value) < 4096:
            path = Path(value).expanduser()
            try:
                if path.is_file():
                    hashes[key] = file_hash(path)
            except OSError:
                continue
    return hashes


def effective_dtype(device: str, dtype: str) -> str:
    """The dtype a model runs in: ``auto`` is bfloat16 on CUDA and float32 elsewhere (as :func:`load_model`)."""
    if dtype != "auto":
        return dtype
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return "bfloat16" if device.startswith("cuda") else "float32"


def model_part(spec, checkpoint: str | None) -> dict[str, Any]:
    """The identity of one configured model (a :class:`~synfaith.runs.config.ModelConfig`)."""
    options = {k: v for k, v in spec.options.items() if k not in NON_OUTPUT_OPTIONS and not is_secret_name(k)}
    return {
        "path": url_credentials(spec.path)[0],
        "dtype": effective_dtype(spec.device, spec.dtype),
        "options": redact(options),
        "checkpoint": checkpoint,
    }


def dataset_part(spec, instance_ids: Sequence[str]) -> dict[str, Any]:
    """The identity of one configured dataset (``instance_ids``: every row's id, not only the selected)."""
    part = {"kind": spec.kind, "options": spec.options, "files": _hash_named_files(spec.options), "instances": _digest(list(instance_ids))}
    # how answers are read (docs/open-answers.md); only when set, so existing runs keep their fingerprints
    answers = {k: getattr(spec, k, None) for k in ("answer_type", "max_answer_tokens")}
    return part | ({"answers": answers} if any(v is not None for v in answers.values()) else {})


def explainer_part(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    # an explainer's batch sizes change how many passes it takes, not its scores
    return {"name": name, "options": {k: v for k, v in options.items() if k not in NON_OUTPUT_OPTIONS}}


def run_part(config_data: Mapping[str, Any], version: str) -> dict[str, Any]:
    return {"seed": config_data.get("seed"), "metrics": config_data.get("metrics"), "zero_state": config_data.get("zero_state"), "synfaith": version}


@dataclass
class RunIdentity:
    """The parts of a run's identity, by label; see the module docstring."""

    run: dict[str, Any]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    explainers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fingerprint(self, model: str, dataset: str, explainer: str) -> str:
        """The fingerprint every row of (model, dataset, explainer) carries under these settings."""
        return _digest([self.run, self.models[model], self.datasets[dataset], self.explainers[explainer]])

    def fingerprints(self) -> dict[tuple[str, str, str], str]:
        return {(m, d, e): self.fingerprint(m, d, e) for m in self.models for d in self.datasets for e in self.explainers}

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "run": self.run, "models": self.models, "datasets": self.datasets, "explainers": self.explainers}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunIdentity:
        return cls(dict(data["run"]), dict(data["models"]), dict(data["datasets"]), dict(data["explainers"]))

    @classmethod
    def read(cls, run_dir: str | os.PathLike) -> RunIdentity | None:
        path = Path(run_dir) / "identity.json"
        if not path.is_file():
            return None
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return flat
    return {prefix: value}


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "…"


def changed_fields(previous: RunIdentity, current: RunIdentity) -> list[str]:
    """``"explainers[random].options.seed: 0 → 1"`` for every part both runs have and that differs.

    Labels only one of them has (a model, dataset or explainer added or dropped) are not changes.
    """
    changes = []
    pairs = [("", previous.run, current.run)]
    for section in ("models", "datasets", "explainers"):
        old, new = getattr(previous, section), getattr(current, section)
        pairs += [(f"{section}[{label}]", old[label], new[label]) for label in new if label in old]
    for prefix, old, new in pairs:
        flat_old, flat_new = _flatten(old, prefix), _flatten(new, prefix)
        for key in sorted(set(flat_old) | set(flat_new)):
            if flat_old.get(key) != flat_new.get(key):
                changes.append(f"{key}: {_short(flat_old.get(key))} → {_short(flat_new.get(key))}")
    return changes
