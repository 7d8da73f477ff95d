"""synfaith: synergistic faithfulness of post-hoc explainers for vision-language models.

The model-agnostic core is a :class:`~synfaith.games.Game` — the value of keeping a subset
of visual units and a subset of text units — and metrics that take a game and an
explainer's two score vectors. See ``synfaith.games`` and ``synfaith.metrics``.
"""

from synfaith._version import __version__

__all__ = ["__version__"]
