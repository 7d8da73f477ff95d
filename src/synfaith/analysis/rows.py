"""Selecting and shaping result rows (one per model × dataset × instance × explainer)."""

from __future__ import annotations

import pandas as pd

INSTANCE = ("model", "dataset", "instance_id")

# unimodal criteria: (visual column, textual column, higher is better)
UNIMODAL_CRITERIA = {
    "deletion": ("visual_deletion", "textual_deletion", False),
    "insertion": ("visual_insertion", "textual_insertion", True),
    "srg": ("visual_srg", "textual_srg", True),
}


def successful(rows: pd.DataFrame, column: str | None = None) -> pd.DataFrame:
    """Rows whose status is ok (and whose ``column`` is present)."""
    ok = rows[rows["status"] == "ok"]
    if column is not None:
        ok = ok[ok[column].notna()]
    return ok


def complete_instances(rows: pd.DataFrame, column: str = "fsyn") -> pd.DataFrame:
    """Rows of instances where every explainer has ``column`` (so explainers are compared on the same instances)."""
    ok = successful(rows, column)
    explainers = ok["explainer"].nunique()
    counts = ok.groupby(list(INSTANCE))["explainer"].transform("nunique")
    return ok[counts == explainers]


def split_by_correctness(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"all": rows, "correct": …, "incorrect": …}`` (the last two only where correctness is known)."""
    parts = {"all": rows}
    if "correct" in rows and rows["correct"].notna().any():
        known = rows[rows["correct"].notna()]
        parts["correct"] = known[known["correct"].astype(bool)]
        parts["incorrect"] = known[~known["correct"].astype(bool)]
    return parts
