"""Analysis: pure functions over result rows (docs/design.md §1); no model, no explainer.

Rank agreement, F_syn ↔ SII validation, leaderboards with tests and a mixed model, the
redundancy profile, the planted-truth explainer table and sanity rows. The rows come from a
run's store or from :mod:`synfaith.runs.planted`.
"""

from synfaith.analysis.mixed_model import MixedModelResult, mixed_model
from synfaith.analysis.sanity import ExplainerScores, compare_explainers, mean_dividend_by_subset, sanity_markdown, sanity_scores

__all__ = ["ExplainerScores", "MixedModelResult", "compare_explainers", "mean_dividend_by_subset", "mixed_model", "sanity_markdown", "sanity_scores"]
