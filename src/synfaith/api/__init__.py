"""The Python façade: what a notebook needs, also exported from the top-level ``synfaith`` package.

- :func:`explain` — one image and question, every chosen explainer, each scored with F_syn and
  the unimodal metrics; an :class:`Explanation` with ``.plot()``, ``.to_json()``, ``.save(dir)``
  (the Python side of ``synfaith explain``).
- :func:`evaluate` — models × datasets × explainers × metrics through the runner of
  ``synfaith run``; an :class:`Evaluation` with ``.rows`` (a DataFrame), ``.summary()`` and
  ``.report(path)``.

``docs/walkthrough.md`` shows both, and a tiny game of one's own, step by step.
"""

from synfaith.api.evaluation import Evaluation, evaluate
from synfaith.api.explaining import default_explainers, explain
from synfaith.api.explanation import ExplainerCost, ExplainerResult, Explanation

__all__ = ["Evaluation", "ExplainerCost", "ExplainerResult", "Explanation", "default_explainers", "evaluate", "explain"]
