"""Headroom: each explainer's F_syn against the best the ``fsyn_search`` explainer found (pure; design §7).

``fsyn_search`` searches rankings through the game for the highest F_syn an instance allows,
so its value ``F*`` on a (model, dataset, instance) is a (searched, not proven) upper bound.
For an explainer e with F_syn ``F_e`` on the same instance:

* normalised F_syn  ``F_e / F*``  — 1 = as good as the search, 0 = no synergy found;
* headroom          ``F* − F_e`` — how much synergy the explainer's ranking leaves unfound.

Where the bound is not usable the normalised value is NaN, never a silent number, and the
instance is counted:

* **missing** — no successful ``fsyn_search`` row with an F_syn on that instance (not run, or
  failed there): normalised and headroom are NaN;
* **not positive** — ``F* ≤ min_bound`` (default 0.01, the tolerance within which a ranking
  counts as reaching the bound): the search found no synergy to normalise by (a redundant
  instance, or one whose modalities act additively), so the ratio would be noise or flip sign.
  Normalised is NaN there; the headroom ``F* − F_e`` is still reported.

The search is a beam search, not an exhaustive one, so an explainer can beat it on an instance:
its normalised F_syn is then above 1 and its headroom negative, and both are kept as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synfaith.analysis.rows import INSTANCE, NotComputable, successful

SEARCH = "fsyn_search"
MIN_BOUND = 0.01  # F* at or below this is no bound to normalise by (see the module docstring)
AT_BOUND = 0.01  # an explainer "reaches" the bound when F_e ≥ F* − AT_BOUND


def _bounds(rows: pd.DataFrame, search: str) -> pd.Series:
    """``F*`` per instance: the search's F_syn (the highest, should a run hold it twice)."""
    found = successful(rows, "fsyn")
    found = found[found["explainer"] == search]
    if found.empty:
        raise NotComputable(f"no successful {search!r} row with an F_syn: add the explainer {search!r} to the run to get the headroom")
    return found.groupby(list(INSTANCE))["fsyn"].max().rename("fsyn_bound")


def normalised_fsyn(rows: pd.DataFrame, search: str = SEARCH, min_bound: float = MIN_BOUND) -> pd.DataFrame:
    """The rows with four columns added (the rows themselves are not changed):

    * ``fsyn_bound`` — ``F*``, the search's F_syn on the row's (model, dataset, instance);
    * ``fsyn_normalised`` — ``F_e / F*`` where the row has an F_syn and ``F* > min_bound``, else NaN;
    * ``fsyn_headroom`` — ``F* − F_e`` where both exist, else NaN;
    * ``bound_status`` — ``"ok"``, ``"missing"`` (no bound on that instance) or ``"not_positive"``
      (``F* ≤ min_bound``).

    ``leaderboard(normalised_fsyn(rows), metric="fsyn_normalised")`` is the normalised leaderboard.

    Raises:
        NotComputable: no successful ``search`` row holds an F_syn.
        ValueError: ``min_bound`` is not a finite number ≥ 0.
    """
    if isinstance(min_bound, bool) or not isinstance(min_bound, (int, float)) or not np.isfinite(min_bound) or min_bound < 0:
        raise ValueError(f"min_bound must be a finite number ≥ 0 (F_syn units), got {min_bound!r}; pass e.g. {MIN_BOUND}")
    bounds = _bounds(rows, search)
    out = rows.copy()
    keys = pd.MultiIndex.from_frame(out[list(INSTANCE)])
    bound = bounds.reindex(keys).to_numpy(dtype=float)
    ok = (out["status"] == "ok").to_numpy() & out["fsyn"].notna().to_numpy()  # _bounds found an "fsyn" column
    fsyn = np.where(ok, pd.to_numeric(out["fsyn"], errors="coerce"), np.nan).astype(float)
    usable = np.isfinite(bound) & (bound > min_bound)
    out["fsyn_bound"] = bound
    with np.errstate(divide="ignore", invalid="ignore"):
        out["fsyn_normalised"] = np.where(usable & ok, fsyn / np.where(usable, bound, 1.0), np.nan)
    out["fsyn_headroom"] = bound - fsyn
    out["bound_status"] = np.where(np.isnan(bound), "missing", np.where(usable, "ok", "not_positive"))
    return out


@dataclass(frozen=True)
class Headroom:
    """Each explainer's F_syn against the search's, and what the search cost.

    Attributes:
        table: one row per explainer (index ``explainer``; the search included, at 1 and 0):
            ``n`` rows with an F_syn and a bound; ``fsyn`` mean F_e and ``bound`` mean F* over
            those rows; ``fsyn_normalised`` mean F_e / F* over the ``n_normalised`` rows whose
            bound is usable; ``headroom`` mean F* − F_e (= bound − fsyn); ``at_bound`` the share
            of rows with F_e ≥ F* − 0.01. Sorted by ``fsyn_normalised``, best first.
        instances: instances with a bound.
        missing_bound: instances some explainer has an F_syn on but the search has none.
        not_positive_bound: instances with a bound ≤ ``min_bound`` (no normalised value there).
        search_model_calls: the search's mean distinct coalitions per instance.
        search_seconds: the search's mean wall time per instance.
        min_bound: the threshold used.
    """

    table: pd.DataFrame
    instances: int
    missing_bound: int
    not_positive_bound: int
    search_model_calls: float
    search_seconds: float
    min_bound: float


def headroom_table(rows: pd.DataFrame, search: str = SEARCH, min_bound: float = MIN_BOUND) -> Headroom:
    """Per explainer: mean F_syn, mean normalised F_syn, mean headroom, n; plus the search's mean cost.

    Means are over the rows of instances that have a bound (paired with F* on the same
    instance), so ``headroom = bound − fsyn`` holds for the means too. See the module docstring
    for what happens where the bound is missing or not positive.
    """
    scored = normalised_fsyn(rows, search, min_bound)
    paired = scored[(scored["status"] == "ok") & scored["fsyn"].notna() & (scored["bound_status"] != "missing")]
    if paired.empty:
        raise NotComputable(f"no explainer has an F_syn on an instance where {search!r} has one")
    paired = paired.assign(_at_bound=(paired["fsyn"] >= paired["fsyn_bound"] - AT_BOUND).astype(float))
    grouped = paired.groupby("explainer")
    table = pd.DataFrame(
        {
            "n": grouped.size(),
            "fsyn": grouped["fsyn"].mean(),
            "bound": grouped["fsyn_bound"].mean(),
            "fsyn_normalised": grouped["fsyn_normalised"].mean(),
            "n_normalised": grouped["fsyn_normalised"].count(),
            "headroom": grouped["fsyn_headroom"].mean(),
            "at_bound": grouped["_at_bound"].mean(),
        }
    ).sort_values(["fsyn_normalised", "fsyn"], ascending=False, na_position="last")
    table.index.name = "explainer"
    with_fsyn = successful(scored, "fsyn").drop_duplicates(list(INSTANCE))
    searched = successful(scored, "fsyn")
    searched = searched[searched["explainer"] == search]
    return Headroom(
        table=table,
        instances=int((with_fsyn["bound_status"] != "missing").sum()),
        missing_bound=int((with_fsyn["bound_status"] == "missing").sum()),
        not_positive_bound=int((with_fsyn["bound_status"] == "not_positive").sum()),
        search_model_calls=float(searched["explain_model_calls"].mean()) if "explain_model_calls" in searched else float("nan"),
        search_seconds=float(searched["explain_seconds"].mean()) if "explain_seconds" in searched else float("nan"),
        min_bound=float(min_bound),
    )
