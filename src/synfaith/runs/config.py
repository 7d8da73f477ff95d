"""Run configuration: YAML validated by pydantic, with errors that name the bad field.

A config lists models, datasets (with limits and seeds), explainers (with options), metric
settings and execution settings; see ``configs/demo.yaml`` for the shipped default and
:func:`load_config` for loading. Every field has a default except the three lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

METRICS = ("redundancy", "unimodal", "fsyn", "sii", "influence", "stability")


class ConfigError(ValueError):
    """A run configuration is invalid; the message lists every bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    """One model: ``path`` is ``toy`` (the shipped toy VLM), a hub id, a local checkpoint, or an
    ``http(s)://`` OpenAI-compatible endpoint (a black-box model; adapter options in ``options``)."""

    path: str
    name: str | None = Field(None, description="label in the rows (default: the path's last part)")
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = Field(16, ge=1, description="masked variants per forward pass")
    options: dict[str, Any] = Field(default_factory=dict, description="adapter options (max_pixels, max_tiles, …)")

    @property
    def label(self) -> str:
        return self.name or self.path.rstrip("/").rsplit("/", 1)[-1]


class DatasetConfig(_Strict):
    """One dataset: a registry ``kind`` with its loader options, optionally limited and subsampled."""

    kind: str
    name: str | None = None
    limit: int | None = Field(None, ge=0, description="instances to run (default: all)")
    seed: int | None = Field(None, description="seed of a random subset when limit is set (default: the first rows)")
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from synfaith.data import DATASETS

        if kind not in DATASETS:
            raise ValueError(f"unknown dataset kind {kind!r}; known: {', '.join(sorted(DATASETS))}")
        return kind

    @property
    def label(self) -> str:
        return self.name or self.kind


class ExplainerConfig(_Strict):
    """One explainer by registry name, with options; ``label`` distinguishes two settings of one method."""

    name: str
    label: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known_explainer(cls, name: str) -> str:
        import synfaith.explainers.builtin  # noqa: F401
        from synfaith.explainers import EXPLAINERS

        if name not in EXPLAINERS:
            raise ValueError(f"unknown explainer {name!r}; known: {', '.join(sorted(EXPLAINERS))}")
        return name

    @property
    def key(self) -> str:
        return self.label or self.name


class MetricsConfig(_Strict):
    """Which metrics, and their settings (DESIGN.md §3)."""

    compute: list[Literal["redundancy", "unimodal", "fsyn", "sii", "influence", "stability"]] = Field(
        default_factory=lambda: list(METRICS)
    )
    steps: int = Field(11, ge=2, description="K, points of the step grid")
    blur_radius: float | None = Field(None, ge=0, description="visual zero-state blur (default: an eighth of the longer side)")
    background_players: int = Field(6, ge=0, le=10, description="C, background players of the SII ground truth")
    sii_limit: int | None = Field(10, ge=0, description="SII ground truth on the first N instances of each dataset (None: all)")
    probe_limit: int | None = Field(
        50, ge=0, description="influence and stability (2 + stability_draws extra explanations each) on the first N instances of each dataset (None: all)"
    )
    stability_sigma: float = Field(0.02, ge=0, description="pixel noise std (on [0, 1]) of the stability perturbations")
    stability_draws: int = Field(3, ge=1, description="perturbed copies per stability estimate")
    stability_top_fraction: float = Field(0.1, gt=0, le=1, description="k of the top-k overlap, as a fraction of all units")


class ExecutionConfig(_Strict):
    """Where and how work runs."""

    executor: Literal["local", "ray"] = "local"
    shard_size: int = Field(25, ge=1, description="instances per work unit")
    flush_every: int = Field(4, ge=1, description="instances per result shard file")
    ray_address: str | None = Field(None, description="Ray cluster address (default: start a local one)")
    ray_num_gpus: float = Field(1.0, ge=0, description="GPUs per Ray worker (0 on CPU-only clusters)")
    ray_num_cpus: float = Field(1.0, gt=0, description="CPUs per Ray worker")
    ray_workers: int = Field(1, ge=1, description="Ray workers (model replicas) per model")
    progress: bool = True


class RunConfig(_Strict):
    """A whole run."""

    output_dir: str
    seed: int = 0
    models: list[ModelConfig] = Field(min_length=1)
    datasets: list[DatasetConfig] = Field(min_length=1)
    explainers: list[ExplainerConfig] = Field(min_length=1)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)

    @model_validator(mode="after")
    def _unique_labels(self) -> RunConfig:
        for what, labels in (
            ("model", [m.label for m in self.models]),
            ("dataset", [d.label for d in self.datasets]),
            ("explainer", [e.key for e in self.explainers]),
        ):
            duplicates = sorted({x for x in labels if labels.count(x) > 1})
            if duplicates:
                raise ValueError(f"{what} labels must be unique; repeated: {', '.join(duplicates)} (set name/label)")
        return self

    def dump(self) -> dict[str, Any]:
        """The resolved config (every default filled in) as plain data."""
        return self.model_dump(mode="json")


def _format(error: ValidationError, source: str) -> str:
    lines = [f"invalid run configuration {source}:"]
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "") -> RunConfig:
    """Validate a config dict; raises :class:`ConfigError` listing every bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"a run configuration {source} must be a mapping, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format(error, source)) from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run configuration."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"run configuration not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return parse_config(data, str(path))
