"""synfaith: synergistic faithfulness of post-hoc explainers for vision-language models.

The model-agnostic core is a :class:`~synfaith.games.Game` — the value of keeping a subset
of visual units and a subset of text units — and metrics that take a game and an
explainer's two score vectors. See ``synfaith.games`` and ``synfaith.metrics``.

The names a notebook needs are here, imported on first use (``import synfaith`` loads no
torch):

- :func:`load_model` — ``"toy"`` (the shipped toy VLM), a checkpoint path, a hub name or an
  endpoint URL → a model (:func:`synfaith.models.load_model`).
- :func:`explain` → :class:`Explanation`: one image and question, every explainer's map with
  its F_syn (``.plot()``, ``.to_json()``, ``.save(dir)``) — ``synfaith explain`` from Python.
- :func:`evaluate` → :class:`Evaluation`: a benchmark run (``.rows`` DataFrame, ``.summary()``,
  ``.report(path)``) — ``synfaith run`` from Python.
- Games and metrics: :class:`Game`, :class:`FunctionGame`, :class:`AndGame`, :class:`OrGame`,
  :class:`XorGame`, :class:`AdditiveGame`, :func:`synergistic_faithfulness`,
  :func:`unimodal_faithfulness`, :func:`sii_ground_truth`, :func:`redundancy_profile`;
  :class:`Instance` for one's own data.

``docs/walkthrough.md`` walks through all of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from synfaith._version import __version__

_LAZY = {
    "load_model": "synfaith.models.loading",
    "explain": "synfaith.api.explaining",
    "default_explainers": "synfaith.api.explaining",
    "Explanation": "synfaith.api.explanation",
    "ExplainerResult": "synfaith.api.explanation",
    "evaluate": "synfaith.api.evaluation",
    "Evaluation": "synfaith.api.evaluation",
    "Instance": "synfaith.data.instance",
    "Game": "synfaith.games.base",
    "FunctionGame": "synfaith.games.base",
    "AndGame": "synfaith.games.analytic",
    "OrGame": "synfaith.games.analytic",
    "XorGame": "synfaith.games.analytic",
    "AdditiveGame": "synfaith.games.analytic",
    "synergistic_faithfulness": "synfaith.metrics.synergy",
    "unimodal_faithfulness": "synfaith.metrics.unimodal",
    "sii_ground_truth": "synfaith.metrics.sii",
    "redundancy_profile": "synfaith.metrics.redundancy",
}

# spelt out (not derived from _LAZY) so linters see the names the TYPE_CHECKING imports below export
__all__ = [
    "__version__",
    "load_model", "explain", "default_explainers", "Explanation", "ExplainerResult", "evaluate", "Evaluation", "Instance",
    "Game", "FunctionGame", "AndGame", "OrGame", "XorGame", "AdditiveGame",
    "synergistic_faithfulness", "unimodal_faithfulness", "sii_ground_truth", "redundancy_profile",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from synfaith.api.evaluation import Evaluation, evaluate
    from synfaith.api.explaining import default_explainers, explain
    from synfaith.api.explanation import ExplainerResult, Explanation
    from synfaith.data.instance import Instance
    from synfaith.games.analytic import AdditiveGame, AndGame, OrGame, XorGame
    from synfaith.games.base import FunctionGame, Game
    from synfaith.metrics.redundancy import redundancy_profile
    from synfaith.metrics.sii import sii_ground_truth
    from synfaith.metrics.synergy import synergistic_faithfulness
    from synfaith.metrics.unimodal import unimodal_faithfulness
    from synfaith.models.loading import load_model


def __getattr__(name: str) -> Any:
    """Import a façade name on first use (PEP 562), so ``import synfaith`` stays fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synfaith' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
