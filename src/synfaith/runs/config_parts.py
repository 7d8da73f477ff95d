"""Parts of the run configuration kept beside :mod:`synfaith.runs.config`: plugin lists and dataset limits.

* :class:`PluginImports` — a config's ``include_paths:`` and ``imports:`` (see
  :mod:`synfaith.plugins`). They are imported *before* the rest of the config is validated, so a
  plugin's explainers, datasets and metrics are known names with typed options. They are not
  part of any row's identity (:mod:`synfaith.runs.identity`): importing a module only makes
  names available; the rows an explainer or a metric writes are fingerprinted by its name and
  options, whichever module registered it.
* :data:`Limit` — ``limit:`` of a dataset: a number of instances, or (lmms-eval's habit) a
  fraction of the dataset in (0, 1); :func:`instance_count` turns it into a count.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class PluginImports(BaseModel):
    """The ``include_paths:`` and ``imports:`` of a run configuration (a base of ``RunConfig``)."""

    model_config = ConfigDict(extra="forbid")

    include_paths: list[str] = Field(
        default_factory=list, description="folders whose *.py plugin files are imported first (--include_path)"
    )
    imports: list[str] = Field(
        default_factory=list, description="plugin modules (my_pkg.plugin) or .py files imported first (--imports)"
    )

    @model_validator(mode="before")
    @classmethod
    def _import_plugins_first(cls, data: Any) -> Any:
        """Import the plugins before any field is validated; paths are stored absolute.

        A plugin that cannot be imported raises :class:`~synfaith.plugins.PluginError` (an
        ImportError naming it and the fix), not a field error: nothing else can be checked.
        """
        if not isinstance(data, dict) or not (data.get("include_paths") or data.get("imports")):
            return data
        from synfaith.plugins import PluginError, load_plugins

        lists = {}
        for key in ("include_paths", "imports"):
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise PluginError(f"{key}: expected a list of strings, got {value!r}")
            lists[key] = value
        loaded = load_plugins(lists["include_paths"], lists["imports"])
        return {**data, "include_paths": list(loaded.include_paths), "imports": list(loaded.imports)}


_LIMIT = "limit must be a number of instances (0, 1, 2, …) or a fraction of the dataset between 0 and 1 (0.1 = a tenth)"


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic would read true as 1
        raise ValueError(f"{_LIMIT}, got {value!r}")
    return value


def _check_limit(value: int | float | None) -> int | float | None:
    if value is None:
        return None
    if value < 0:
        raise ValueError(f"Input should be greater than or equal to 0 (a number of instances, or a fraction between 0 and 1), got {value!r}")
    if (value >= 1 and not float(value).is_integer()) or not math.isfinite(value):
        raise ValueError(f"{_LIMIT}, got {value!r}")
    return value if 0 < value < 1 else int(value)


Limit = Annotated[int | float | None, BeforeValidator(_no_bool), AfterValidator(_check_limit)]


def instance_count(limit: int | float | None, size: int) -> int | None:
    """How many of a dataset's ``size`` instances a ``limit`` selects (None: all).

    A fraction ``0 < f < 1`` selects ``⌈f · size⌉`` (lmms-eval's rounding, so a non-empty
    dataset never runs empty); a whole number selects that many (at most ``size``).
    """
    if limit is None:
        return None
    if 0 < limit < 1:
        return math.ceil(limit * size)
    return min(int(limit), size)
