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


class NotComputable(ValueError):
    """The rows do not allow an analysis (too few explainers, instances, values); the message says why."""


def successful(rows: pd.DataFrame, column: str | None = None) -> pd.DataFrame:
    """Rows whose status is ok (and whose ``column`` is present)."""
    ok = rows[rows["status"] == "ok"]
    if column is not None:
        ok = ok[ok[column].notna()] if column in ok else ok.iloc[0:0]
    return ok


def require_values(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """:func:`successful` rows with ``column``; :class:`NotComputable` saying why when there are none."""
    ok = successful(rows, column)
    if len(ok):
        return ok
    if rows.empty:
        raise NotComputable("there are no rows")
    if not (rows["status"] == "ok").any():
        stages = rows["stage"].fillna("?").value_counts()
        where = ", ".join(f"{count} at stage {stage!r}" for stage, count in stages.items())
        raise NotComputable(f"every one of the {len(rows)} rows failed ({where}); see Failures")
    raise NotComputable(f"no successful row holds {column!r} (the run's metrics.compute did not produce it)")


def explainer_count(rows: pd.DataFrame, column: str) -> int:
    """How many explainers have at least one successful ``column`` value."""
    return int(successful(rows, column)["explainer"].nunique())


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


def correctness_split_problem(rows: pd.DataFrame) -> str | None:
    """Why a correct/incorrect comparison cannot be made on these rows (``None`` when it can)."""
    ok = successful(rows)
    if ok.empty:
        return "there is no successful row"
    known = ok["correct"].dropna() if "correct" in ok else pd.Series(dtype=bool)
    if known.empty:
        return "correctness is unknown for every row (no reference answers)"
    instances = ok.loc[known.index].drop_duplicates(list(INSTANCE))
    right, n = int(instances["correct"].astype(bool).sum()), len(instances)
    counted = f"{n} instance{'s' if n != 1 else ''}"
    if right == n:
        return f"every answer is correct ({counted}): there are no incorrect answers to compare"
    if right == 0:
        return f"every answer is incorrect ({counted}): there are no correct answers to compare"
    return None


def why_not_computable(rows: pd.DataFrame, column: str) -> str | None:
    """Why ``column`` has no successful value, in one line (``None`` when it has one)."""
    try:
        require_values(rows, column)
    except NotComputable as reason:
        return str(reason)
    return None
