"""Run configuration: YAML validated by pydantic, with errors that name the bad field.

A config lists models, datasets (with limits and seeds), explainers (with options), metric
settings and execution settings; see ``configs/demo.yaml`` for the shipped default and
:func:`load_config` for loading. Every field has a default except the three lists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    PositiveInt,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializationInfo,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from synfaith.contracts import ZeroState
from synfaith.runs.config_parts import Limit, PluginImports
from synfaith.runs.metrics_config import MetricsConfig
from synfaith.secrets import MASK, is_secret_name, redact, register_secret, url_credentials

DTYPES = ("auto", "float32", "float16", "bfloat16", "float64")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class ConfigError(ValueError):
    """A run configuration is invalid; the message lists every bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _reveal(info: SerializationInfo) -> bool:
    return bool(info.context and info.context.get("reveal_secrets"))


class ModelConfig(_Strict):
    """One model: ``path`` is ``toy`` (the shipped toy VLM), a hub id, a local checkpoint, or an
    ``http(s)://`` OpenAI-compatible endpoint (a black-box model; adapter options in ``options``).

    Options that hold secrets (``api_key``, ``*_token``, …) are kept as ``SecretStr`` and dumped
    as ``***``, and so are credentials inside an endpoint URL; prefer ``api_key_env``.
    """

    path: str
    name: str | None = Field(None, description="label in the rows (default: the path's last part)")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    dtype: str = Field("auto", description=f"one of {', '.join(DTYPES)}")
    batch_size: PositiveInt | Literal["auto"] = Field(16, description="masked variants per forward pass, or auto (the most that fit in free memory)")
    options: dict[str, Any] = Field(default_factory=dict, description="adapter options (max_pixels, max_tiles, …)")

    @property
    def label(self) -> str:
        return self.name or url_credentials(self.path)[0].rstrip("/").rsplit("/", 1)[-1]

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        _, user, password = url_credentials(path)
        register_secret(password)
        register_secret(user if password is None else None)
        return path

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        if not _DEVICE.match(device):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"device {device!r} is not available: this torch sees no CUDA GPU; use device=cpu (or auto)")
            if ":" in device and int(device.split(":")[1]) >= torch.cuda.device_count():
                raise ValueError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return device

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, dtype: str) -> str:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        return dtype

    @field_serializer("path")
    def _dump_path(self, path: str, info: SerializationInfo) -> str:
        return path if _reveal(info) else redact(path)

    @field_serializer("options")
    def _dump_options(self, options: dict[str, Any], info: SerializationInfo) -> dict[str, Any]:
        if _reveal(info):
            return {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in options.items()}
        return {k: MASK if isinstance(v, SecretStr) else redact(v) for k, v in options.items()}

    def adapter_options(self) -> dict[str, Any]:
        """The options as the adapter takes them (secrets revealed)."""
        return {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in self.options.items()}

    def adapter_class(self) -> type | None:
        """The adapter this path loads, when that can be known offline (else None)."""
        from synfaith.models.loading import adapter_class_for

        return adapter_class_for(self.path)

    def capabilities(self) -> frozenset[str] | None:
        """What the model can do (see :mod:`synfaith.contracts`), when known before loading."""
        adapter_class = self.adapter_class()
        return None if adapter_class is None else frozenset(adapter_class.capabilities)

    @model_validator(mode="after")
    def _known_options(self) -> ModelConfig:
        from synfaith.models.loading import adapter_options_check

        for key, value in self.options.items():
            if is_secret_name(key) and value is not None and not isinstance(value, SecretStr):
                register_secret(str(value))  # before any check: an error quoting the value must not show it
        adapter_options_check(self.adapter_class(), self.adapter_options(), f"model {redact(self.path)!r}")
        for key, value in list(self.options.items()):
            if is_secret_name(key) and isinstance(value, str):
                self.options[key] = SecretStr(value)
        return self


class DatasetConfig(_Strict):
    """One dataset: a registry ``kind`` with its loader options, optionally limited and subsampled."""

    kind: str
    name: str | None = None
    limit: Limit = Field(None, description="instances to run, or a fraction of the dataset in (0, 1) (default: all)")
    seed: int | None = Field(None, description="seed of a random subset when limit is set (default: the first rows)")
    options: dict[str, Any] = Field(default_factory=dict)
    answer_type: Literal["yes_no", "choice", "open"] | None = Field(
        None, description="how every instance's answer is read (default: each instance's own, else by its shape); open: the whole generated answer"
    )
    max_answer_tokens: PositiveInt | None = Field(None, description="bound of an open answer's greedy decoding (default 128 tokens)")

    def open_source(self):
        """The dataset's source, with ``answer_type`` / ``max_answer_tokens`` set on its instances."""
        from synfaith.data import open_dataset
        from synfaith.data.answer_types import with_answer_settings

        return with_answer_settings(open_dataset(self.kind, **self.options), self.answer_type, self.max_answer_tokens)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from synfaith.data import DATASETS

        if kind not in DATASETS:
            raise ValueError(f"unknown dataset kind {kind!r}; known: {', '.join(DATASETS.names())}")
        return kind

    @model_validator(mode="after")
    def _known_options(self) -> DatasetConfig:
        from synfaith.data import DATASETS
        from synfaith.options import validate_options

        validate_options(DATASETS[self.kind], self.options, f"dataset {self.kind!r}")
        return self

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
        from synfaith.explainers import EXPLAINERS

        if name not in EXPLAINERS:
            raise ValueError(f"unknown explainer {name!r}; known: {', '.join(EXPLAINERS.names())}")
        return name

    @model_validator(mode="after")
    def _known_options(self) -> ExplainerConfig:
        from synfaith.explainers import EXPLAINERS
        from synfaith.explainers.options import validate_options

        validate_options(EXPLAINERS[self.name], self.options)
        return self

    @property
    def requires(self) -> frozenset[str]:
        """What the explainer needs of a model (see :mod:`synfaith.contracts`)."""
        from synfaith.explainers import EXPLAINERS

        return frozenset(EXPLAINERS[self.name].requires)

    @property
    def key(self) -> str:
        return self.label or self.name


class ZeroStateConfig(_Strict):
    """The zero-state removed units take (docs/design.md §2)."""

    blur: float = Field(0.125, ge=0, description="visual zero-state blur radius, a fraction of the image's longer side")
    text: Literal["pad"] = Field("pad", description="what a masked query token becomes: the model's pad token")

    def value(self) -> ZeroState:
        return ZeroState(blur=self.blur, text=self.text)


class ReportConfig(_Strict):
    """What ``synfaith report`` draws (not part of any row's identity)."""

    examples: list[str] = Field(default_factory=list, description="instance ids for the qualitative section "
                                "(default: one per stratum); `synfaith report --examples` overrides it")


class ExecutionConfig(_Strict):
    """Where and how work runs."""

    executor: Literal["local", "ray"] = "local"
    workers: PositiveInt | Literal["auto"] = Field(1, description="local worker processes (auto: one per usable core), each with its own model copy")
    shard_size: int = Field(25, ge=1, description="instances per work unit")
    flush_every: int = Field(4, ge=1, description="instances per result shard file")
    ray_address: str | None = Field(None, description="Ray cluster address (default: start a local one)")
    ray_num_gpus: float = Field(1.0, ge=0, description="GPUs per Ray worker (0 on CPU-only clusters)")
    ray_num_cpus: float = Field(1.0, gt=0, description="CPUs per Ray worker")
    ray_workers: int = Field(1, ge=1, description="Ray workers (model replicas) per model")
    progress: bool = True


class RunConfig(PluginImports):  # include_paths and imports first: their plugins are imported before the rest is checked
    """A whole run."""

    output_dir: str
    seed: int = 0
    models: list[ModelConfig] = Field(min_length=1)
    datasets: list[DatasetConfig] = Field(min_length=1)
    explainers: list[ExplainerConfig] = Field(min_length=1)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    zero_state: ZeroStateConfig = Field(default_factory=ZeroStateConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

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

    @model_validator(mode="after")
    def _compatible(self) -> RunConfig:
        """Refuse a (model, explainer) or (model, metric) pair the model cannot serve."""
        from synfaith.contracts import missing_capabilities, needs_phrase
        from synfaith.metrics.registry import get_metric

        explicit_metrics = "compute" in self.metrics.model_fields_set
        from synfaith.models.loading import is_endpoint

        open_answers = [d.label for d in self.datasets if d.answer_type == "open"]
        for model in self.models:
            if open_answers and is_endpoint(model.path):
                from synfaith.models.remote import OPEN_ANSWERS_REFUSED

                raise ValueError(f"dataset {open_answers[0]!r} has answer_type open, which model {model.label!r} cannot serve: {OPEN_ANSWERS_REFUSED}; drop one of them")
            capabilities = model.capabilities()
            if capabilities is None:  # a hub name not cached yet: checked when it loads
                continue
            kind = "a black-box model" if "white_box" not in capabilities else "a model"
            for explainer in self.explainers:
                missing = missing_capabilities(explainer.requires, capabilities)
                if missing:
                    raise ValueError(
                        f"explainer {explainer.key!r} needs {needs_phrase(missing)}, which model {model.label!r} "
                        f"({kind}) does not have; drop one of them"
                    )
            if explicit_metrics:
                for name in self.metrics.compute:
                    missing = missing_capabilities(get_metric(name).needs - {"probes"}, capabilities)
                    if missing:
                        raise ValueError(
                            f"metric {name!r} needs {needs_phrase(missing)}, which model {model.label!r} ({kind}) "
                            "does not have; drop it from metrics.compute"
                        )
        return self

    def dump(self, *, reveal_secrets: bool = False) -> dict[str, Any]:
        """The resolved config (every default filled in) as plain data, secrets as ``***``.

        ``reveal_secrets`` keeps them, for handing the config to a worker process — never for writing.
        """
        return self.model_dump(mode="json", context={"reveal_secrets": reveal_secrets})


_SETTING_ERROR = re.compile(r"^\w+: ")


def _format(error: ValidationError, source: str) -> str:
    lines = [f"invalid run configuration {source}:"]
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["loc"] == ("metrics",) and _SETTING_ERROR.match(message):
            # a metric setting's own errors, "name: problem; name: problem" (see MetricsConfig)
            lines.extend(f"  metrics.{part}" for part in message.split("; "))
            continue
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "") -> RunConfig:
    """Validate a config dict; raises :class:`ConfigError` listing every bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"a run configuration {source} must be a mapping, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format(error, source)) from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML run configuration file as a mapping (not yet validated).

    Raises:
        FileNotFoundError: no such file.
        ConfigError: not valid YAML, or not a mapping at the top level.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"run configuration not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path} is not valid YAML{at}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping (models:, datasets:, explainers:, …) at the top level, got a {type(data).__name__}")
    return data


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run configuration."""
    return parse_config(read_config_file(path), str(path))
