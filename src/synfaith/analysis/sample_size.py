"""Small-sample checks: which cells and tests of a report rest on fewer than ``threshold`` instances (pure).

A mean of three instances, a Wilcoxon test on four pairs (whose smallest two-sided p-value is
2/2⁴ = 0.125) or a mixed model on five groups can be computed but should not be read as a
result. :func:`small_samples` lists every such place in plain sentences for the report.
"""

from __future__ import annotations

import pandas as pd

from synfaith.analysis.rows import INSTANCE, complete_instances, split_by_correctness, successful

SMALL_SAMPLE = 10  # instances per leaderboard cell / per test below which the report warns


def cell_sizes(rows: pd.DataFrame, metric: str = "fsyn", by: str = "dataset") -> pd.DataFrame:
    """Rows with a ``metric`` value per explainer (index) and ``by`` level (columns); every explainer and level, 0 when empty."""
    ok = successful(rows, metric)
    explainers = sorted(rows["explainer"].dropna().unique())
    levels = sorted(rows[by].dropna().unique())
    counts = ok.groupby(["explainer", by]).size().unstack(by) if len(ok) else pd.DataFrame()
    return counts.reindex(index=explainers, columns=levels).fillna(0).astype(int)


def small_samples(rows: pd.DataFrame, threshold: int = SMALL_SAMPLE, metric: str = "fsyn") -> list[str]:
    """Sentences naming each leaderboard cell group and test with fewer than ``threshold`` instances."""
    if rows.empty:
        return [f"the run holds no rows (fewer than {threshold} instances everywhere)"]
    findings = []
    sizes = cell_sizes(rows, metric)
    values = sizes.to_numpy().ravel()
    small = int((values < threshold).sum())
    if small:
        findings.append(
            f"{small} of {values.size} leaderboard cells (explainer × dataset) hold fewer than {threshold} instances "
            f"(smallest n = {int(values.min())}, largest n = {int(values.max())})"
        )
    explainers = successful(rows, metric)["explainer"].nunique()
    if explainers >= 2:
        paired = complete_instances(rows, metric).drop_duplicates(list(INSTANCE)).shape[0]
        if paired < threshold:
            findings.append(
                f"the mean ranks, the Wilcoxon tests and the mixed model rest on {paired} instance{'s' if paired != 1 else ''} "
                f"that every explainer completed (fewer than {threshold})"
            )
    for name, part in split_by_correctness(rows).items():
        if name == "all":
            continue
        instances = successful(part, metric).drop_duplicates(list(INSTANCE)).shape[0]
        if 0 < instances < threshold:
            findings.append(f"the {name}-answer tables rest on {instances} instance{'s' if instances != 1 else ''} (fewer than {threshold})")
    return findings
