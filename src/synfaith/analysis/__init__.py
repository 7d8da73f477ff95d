"""Analysis: statistics over metric results (DESIGN.md §1)."""

from synfaith.analysis.sanity import (
    ExplainerScores,
    compare_explainers,
    planted_sanity,
    redundancy_by_subset,
    sanity_instances,
    sanity_table,
)

__all__ = [
    "ExplainerScores",
    "compare_explainers",
    "planted_sanity",
    "redundancy_by_subset",
    "sanity_instances",
    "sanity_table",
]
