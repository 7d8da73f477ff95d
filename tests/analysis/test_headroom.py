"""Headroom and normalised F_syn: known rows in, known numbers out."""

import numpy as np
import pandas as pd
import pytest

from synfaith.analysis.headroom import headroom_table, normalised_fsyn
from synfaith.analysis.leaderboard import leaderboard
from synfaith.analysis.rows import NotComputable


def row(instance, explainer, fsyn, status="ok", calls=0, seconds=0.0, dataset="d"):
    return {"model": "m", "dataset": dataset, "instance_id": instance, "explainer": explainer, "fsyn": fsyn,
            "status": status, "explain_model_calls": calls, "explain_seconds": seconds}


@pytest.fixture
def rows():
    return pd.DataFrame([
        row("a", "fsyn_search", 0.8, calls=1000, seconds=2.0), row("a", "oracle", 0.6), row("a", "random", 0.2),
        row("b", "fsyn_search", 0.4, calls=1200, seconds=4.0), row("b", "oracle", 0.5), row("b", "random", None, status="failed"),
        row("c", "fsyn_search", -0.1, calls=800, seconds=3.0), row("c", "oracle", -0.3), row("c", "random", 0.05),
        row("d", "fsyn_search", None, status="failed"), row("d", "oracle", 0.7), row("d", "random", 0.1),
    ])


def test_normalised_fsyn_divides_by_the_search_on_the_same_instance(rows):
    scored = normalised_fsyn(rows).set_index(["instance_id", "explainer"])
    assert scored.loc[("a", "oracle"), "fsyn_normalised"] == pytest.approx(0.75)
    assert scored.loc[("a", "random"), "fsyn_normalised"] == pytest.approx(0.25)
    assert scored.loc[("a", "random"), "fsyn_headroom"] == pytest.approx(0.6)
    # an explainer that beats the beam search keeps its value above 1 (and a negative headroom)
    assert scored.loc[("b", "oracle"), "fsyn_normalised"] == pytest.approx(1.25)
    assert scored.loc[("b", "oracle"), "fsyn_headroom"] == pytest.approx(-0.1)
    # a failed row gets nothing
    assert np.isnan(scored.loc[("b", "random"), "fsyn_normalised"]) and np.isnan(scored.loc[("b", "random"), "fsyn_headroom"])
    # a bound ≤ 0: no ratio, but the headroom stays
    assert scored.loc[("c", "oracle"), "bound_status"] == "not_positive"
    assert np.isnan(scored.loc[("c", "oracle"), "fsyn_normalised"])
    assert scored.loc[("c", "oracle"), "fsyn_headroom"] == pytest.approx(0.2)
    # the search failed on d: no bound at all
    assert (scored.loc["d", "bound_status"] == "missing").all() and scored.loc["d", "fsyn_normalised"].isna().all()
    assert len(scored) == len(rows) and list(rows.columns) == list(normalised_fsyn(rows).columns[: len(rows.columns)])


def test_min_bound_excludes_tiny_bounds_and_is_checked(rows):
    scored = normalised_fsyn(rows, min_bound=0.5).set_index(["instance_id", "explainer"])
    assert scored.loc[("b", "oracle"), "bound_status"] == "not_positive" and np.isnan(scored.loc[("b", "oracle"), "fsyn_normalised"])
    assert scored.loc[("a", "oracle"), "fsyn_normalised"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="min_bound must be a finite number ≥ 0"):
        normalised_fsyn(rows, min_bound=-1)


def test_normalised_leaderboard_from_the_rows(rows):
    board = leaderboard(normalised_fsyn(rows), "dataset", metric="fsyn_normalised")
    assert board[("mean", "all")]["oracle"] == pytest.approx((0.75 + 1.25) / 2)
    assert board[("mean", "all")]["fsyn_search"] == 1.0


def test_headroom_table(rows):
    headroom = headroom_table(rows)
    table = headroom.table
    assert list(table.index) == ["fsyn_search", "oracle", "random"]  # by mean normalised F_syn
    oracle = table.loc["oracle"]
    assert oracle["n"] == 3 and oracle["n_normalised"] == 2
    assert oracle["fsyn"] == pytest.approx((0.6 + 0.5 - 0.3) / 3)
    assert oracle["bound"] == pytest.approx((0.8 + 0.4 - 0.1) / 3)
    assert oracle["headroom"] == pytest.approx(oracle["bound"] - oracle["fsyn"])
    assert oracle["fsyn_normalised"] == pytest.approx(1.0)
    assert oracle["at_bound"] == pytest.approx(1 / 3)  # only on b (where it beats the search)
    random = table.loc["random"]
    assert random["n"] == 2 and random["fsyn_normalised"] == pytest.approx(0.25) and random["headroom"] == pytest.approx((0.6 + -0.15) / 2)
    search = table.loc["fsyn_search"]
    assert search["headroom"] == 0 and search["at_bound"] == 1 and search["fsyn_normalised"] == 1
    assert (headroom.instances, headroom.missing_bound, headroom.not_positive_bound) == (3, 1, 1)
    assert headroom.search_model_calls == pytest.approx(1000) and headroom.search_seconds == pytest.approx(3.0)


def test_without_search_rows_it_says_what_to_add(rows):
    with pytest.raises(NotComputable, match="add the explainer 'fsyn_search' to the run"):
        headroom_table(rows[rows.explainer != "fsyn_search"])
    with pytest.raises(NotComputable, match="add the explainer"):
        normalised_fsyn(rows.drop(columns="fsyn"))
