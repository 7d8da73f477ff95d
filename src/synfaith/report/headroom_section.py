"""The report's headroom section: each explainer's F_syn against the best ranking ``fsyn_search`` found.

``normalised F_syn = F_e / F*`` on the same instance and ``headroom = F* − F_e``, where F* is the
search's F_syn (an upper bound it found, not the exact maximum); see
:mod:`synfaith.analysis.headroom` for instances without a usable bound.
"""

from __future__ import annotations

import pandas as pd

from synfaith.analysis.headroom import MIN_BOUND, SEARCH, headroom_table, normalised_fsyn
from synfaith.analysis.leaderboard import leaderboard_numbers
from synfaith.analysis.rows import NotComputable
from synfaith.report.page import ReportBuilder


def headroom_section(builder: ReportBuilder, rows: pd.DataFrame, summary: dict[str, str]) -> None:
    """Write the section ``headroom`` (or say why it is missing: the run has no ``fsyn_search`` rows)."""
    section = builder.section(
        "Headroom: how close each explainer gets to the best ranking found", "headroom",
        f"F* is the F_syn of the ranking `{SEARCH}` found by searching through the game (a lower bound on the instance's "
        f"best achievable F_syn, so an upper reference for every explainer). Normalised F_syn = F_syn / F* on the same "
        f"instance (instances with F* ≤ {MIN_BOUND} have no ratio); headroom = F* − F_syn.")
    if SEARCH not in set(rows["explainer"]):
        builder.skip(section, "normalised F_syn and headroom", f"the run has no {SEARCH!r} rows: add the explainer {SEARCH} to compute the bound")
        return
    try:
        result = headroom_table(rows)
        normalised = leaderboard_numbers(normalised_fsyn(rows), "dataset", metric="fsyn_normalised")
    except NotComputable as reason:
        builder.skip(section, "normalised F_syn and headroom", str(reason))
        return
    builder.table(section, "headroom", result.table,
                  f"Per explainer over the {result.instances} instances with a bound ({result.missing_bound} without one, "
                  f"{result.not_positive_bound} with F* ≤ {MIN_BOUND}): mean F_syn, mean bound F*, mean normalised F_syn, mean "
                  f"headroom, and the share of instances where the explainer reaches F* (within 0.01). The search asked for "
                  f"{result.search_model_calls:.0f} coalitions and took {result.search_seconds:.2f} s per instance on average")
    builder.table(section, "leaderboard_normalised", normalised.filter(like="_mean"),
                  "Normalised F_syn per explainer and dataset (the CSV holds n, mean, sd and a 95% bootstrap interval)", csv=normalised)
    best = result.table.drop(index=SEARCH, errors="ignore")["fsyn_normalised"].dropna()
    if len(best):
        summary |= {"normalised_best": str(best.idxmax()), "normalised_best_value": f"{best.max():.3f}"}


def with_normalised(numbers: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """A :func:`leaderboard_numbers` table with the same columns for normalised F_syn (prefixed
    ``normalised_``) when the run has ``fsyn_search`` rows; unchanged otherwise."""
    if SEARCH not in set(rows["explainer"]):
        return numbers
    try:
        normalised = leaderboard_numbers(normalised_fsyn(rows), "dataset", metric="fsyn_normalised")
    except NotComputable:
        return numbers
    return numbers.join(normalised.add_prefix("normalised_"))
