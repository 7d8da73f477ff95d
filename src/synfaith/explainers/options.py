"""An explainer's typed options, from its constructor's signature (see :mod:`synfaith.options`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synfaith.options import OptionError, options_model
from synfaith.options import validate_options as _validate

ExplainerOptionError = OptionError


def validate_options(explainer_class: type, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options checked against ``explainer_class.__init__``; raises :class:`OptionError`."""
    return _validate(explainer_class, options, f"explainer {getattr(explainer_class, 'name', explainer_class.__name__)!r}")


__all__ = ["ExplainerOptionError", "OptionError", "options_model", "validate_options"]
