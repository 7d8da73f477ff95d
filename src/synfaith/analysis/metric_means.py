"""Every metric of a run, side by side: the mean of each value column per explainer (pure)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def metric_means(rows: pd.DataFrame, metrics: Sequence[tuple[str, str, Sequence[str]]]) -> pd.DataFrame:
    """One line per explainer, one column per numeric value column of each metric, plus ``n``.

    Args:
        rows: result rows (failed rows are left out).
        metrics: ``(name, label, value columns)`` of the metrics to show — the metric registry's
            declarations (plugins included), so a new metric needs no edit here.

    Columns that are not in the rows, hold lists or are empty are skipped.
    """
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    if ok.empty:
        return pd.DataFrame()
    columns = []
    for _, _, names in metrics:
        for name in names:
            if name in ok and pd.api.types.is_numeric_dtype(ok[name]) and ok[name].notna().any():
                columns.append(name)
    if not columns:
        return pd.DataFrame()
    table = ok.groupby("explainer")[columns].mean()
    table.insert(0, "n", ok.groupby("explainer").size())
    return table
