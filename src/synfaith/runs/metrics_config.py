"""The ``metrics:`` section of a run configuration: which metrics run, and their declared settings.

Kept beside :mod:`synfaith.runs.config` (which re-exports :class:`MetricsConfig`). The settings
are whatever the registered metrics declare (:func:`synfaith.metrics.registry.metric_settings`),
so a plugin metric's settings are validated like the built-ins'.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator


def _default_metrics() -> list[str]:
    from synfaith.metrics.registry import metric_names

    return metric_names()


class MetricsConfig(BaseModel):
    """Which metrics (``compute``, registry names) and their settings (docs/design.md §3).

    The settings are those every registered metric declares (``steps``, ``background_players``,
    ``sii_limit``, …; see ``synfaith metrics list``), typed and bounded by their declarations.
    """

    model_config = ConfigDict(extra="allow")

    compute: list[str] = Field(default_factory=_default_metrics)

    @model_validator(mode="before")
    @classmethod
    def _declared_settings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        from synfaith.metrics.registry import metric_settings

        declared = metric_settings()
        if "blur_radius" in data:
            raise ValueError("blur_radius moved: set zero_state.blur, a fraction of the image's longer side (default 0.125)")
        unknown = sorted(set(data) - set(declared) - {"compute"})
        if unknown:
            raise ValueError(f"unknown metric setting {', '.join(map(repr, unknown))}; declared: {', '.join(declared)}")
        settings_model = create_model("MetricSettings", __config__=ConfigDict(extra="forbid"), **declared)
        try:
            settings = settings_model.model_validate({k: v for k, v in data.items() if k != "compute"})
        except ValidationError as error:
            raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())) from None
        return {**({"compute": data["compute"]} if "compute" in data else {}), **settings.model_dump()}

    @field_validator("compute")
    @classmethod
    def _known_metrics(cls, compute: list[str]) -> list[str]:
        from synfaith.metrics.registry import METRICS

        unknown = [name for name in compute if name not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric {', '.join(map(repr, unknown))}; known: {', '.join(_default_metrics())}")
        return list(dict.fromkeys(compute))

    def __getattr__(self, name: str) -> Any:  # settings are extra fields; fill in declared defaults
        extra = self.__pydantic_extra__ or {}
        if name in extra:
            return extra[name]
        from synfaith.metrics.registry import metric_settings

        declared = metric_settings()
        if name in declared:
            return declared[name][1].default
        raise AttributeError(name)
