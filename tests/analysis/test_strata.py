"""Strata by the model's own modality dividend, and the bootstrap intervals on their means.

Rows are computed with the real metrics on analytic games: AND instances (pure synergy, Δ = +1),
OR instances (pure redundancy, Δ = −1) and additive ones (Δ = 0), each scored by an Oracle that
finds the critical pair, a seeded Random ranking and the reversed Oracle.
"""

import math

import numpy as np
import pandas as pd
import pytest

from synfaith.analysis.bootstrap import bootstrap_mean_ci, bootstrap_table
from synfaith.analysis.rows import NotComputable
from synfaith.analysis.strata import (
    StratumRule,
    instance_strata,
    split_by_stratum,
    strata_counts,
    stratum_leaderboard,
    stratum_mean_ranks,
    stratum_overview,
    stratum_wilcoxon,
)
from synfaith.games import AdditiveGame, AndGame, OrGame
from synfaith.metrics import synergistic_faithfulness
from synfaith.metrics.redundancy import redundancy_profile

M, N, K = 9, 5, 11


def _rows(per_kind: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    lines = []
    for kind in ("and", "or", "additive"):
        for i in range(per_kind):
            image_unit, text_unit = int(rng.integers(M)), int(rng.integers(N))
            if kind == "additive":
                game = AdditiveGame(rng.random(M) / M, rng.random(N) / N)
            else:
                game = (AndGame if kind == "and" else OrGame)(n_image=M, n_text=N, image_unit=image_unit, text_unit=text_unit)
            delta = redundancy_profile(game).dividend
            oracle = (np.eye(M)[image_unit], np.eye(N)[text_unit])
            rankings = {"oracle": oracle, "reverse": (-oracle[0], -oracle[1]), "random": (rng.random(M), rng.random(N))}
            for explainer, (image, text) in rankings.items():
                lines.append({"model": "m", "dataset": "games", "instance_id": f"{kind}-{i}", "explainer": explainer, "status": "ok",
                              "kind": kind, "modality_dividend": delta,
                              "fsyn": synergistic_faithfulness(game, image, text, steps=K).score})
    return pd.DataFrame(lines)


@pytest.fixture(scope="module")
def rows():
    return _rows()


def test_the_rule_places_each_instance_by_its_dividend_with_the_threshold_exclusive():
    frame = pd.DataFrame({"model": "m", "dataset": "d", "instance_id": list("abcdef"), "explainer": "x", "status": "ok",
                          "modality_dividend": [0.3, -0.2, 0.05, -0.05, 0.0501, np.nan]})
    strata = instance_strata(frame).set_index("instance_id")["stratum"]
    assert strata.to_dict() == {"a": "synergistic", "b": "redundant", "c": "neutral", "d": "neutral", "e": "synergistic", "f": "unknown"}
    assert instance_strata(frame, StratumRule(0.0)).set_index("instance_id")["stratum"]["c"] == "synergistic"
    assert instance_strata(frame, StratumRule(0.25)).set_index("instance_id")["stratum"].tolist() == ["synergistic", *["neutral"] * 4, "unknown"]
    rule = StratumRule(0.05)
    assert (rule.describe("synergistic"), rule.describe("redundant"), rule.describe("neutral")) == ("Δ > 0.05", "Δ < −0.05", "|Δ| ≤ 0.05")


@pytest.mark.parametrize("threshold", [-0.1, math.nan, math.inf, "0.05", True])
def test_a_bad_threshold_is_one_clear_error(threshold):
    with pytest.raises(ValueError, match=r"stratum threshold must be a finite number ≥ 0 .* pass e\.g\. 0\.05"):
        StratumRule(threshold)


def test_games_fall_into_their_strata_and_the_counts_say_so(rows):
    strata = instance_strata(rows)
    kinds = strata["instance_id"].str.split("-").str[0]
    assert (strata.loc[kinds == "and", "stratum"] == "synergistic").all() and (strata.loc[kinds == "and", "modality_dividend"] == 1).all()
    assert (strata.loc[kinds == "or", "stratum"] == "redundant").all() and (strata.loc[kinds == "or", "modality_dividend"] == -1).all()
    assert (strata.loc[kinds == "additive", "stratum"] == "neutral").all()
    counts = strata_counts(rows).set_index("stratum")
    assert counts["instances"].to_dict() == {"synergistic": 12, "redundant": 12, "neutral": 12, "unknown": 0, "all": 36}
    assert counts.loc["synergistic", "share"] == pytest.approx(1 / 3) and counts.loc["redundant", "mean_dividend"] == -1
    parts = split_by_stratum(rows)
    assert list(parts) == ["synergistic", "redundant", "all"]
    assert set(parts["synergistic"]["kind"]) == {"and"} and len(parts["synergistic"]) == 36 and len(parts["all"]) == len(rows)


def test_without_a_dividend_the_split_says_why(rows):
    with pytest.raises(NotComputable, match="modality_dividend"):
        split_by_stratum(rows.drop(columns="modality_dividend"))
    assert (instance_strata(rows.drop(columns="modality_dividend"))["stratum"] == "unknown").all()


def test_the_oracle_leads_the_synergistic_stratum_and_every_explainer_is_negative_on_the_redundant_one(rows):
    parts = split_by_stratum(rows)
    board = stratum_leaderboard(parts, resamples=500)
    synergy = board[board.stratum == "synergistic"].set_index("explainer")
    # AND game: S(t) = [i* ∈ I_t][j* ∈ T_t]; the Oracle has both from t_1 on: F_syn = (K − 1)/K exactly, on every instance
    assert synergy.loc["oracle", "position"] == 1 and synergy.loc["oracle", "mean"] == pytest.approx((K - 1) / K)
    assert synergy.loc["oracle", "sd"] == pytest.approx(0) and synergy.loc["oracle", "ci_low"] == pytest.approx((K - 1) / K)
    assert synergy.loc["reverse", "mean"] < synergy.loc["random", "mean"] < synergy.loc["oracle", "mean"]
    redundant = board[board.stratum == "redundant"].set_index("explainer")
    # OR game: S(t) = −[i* ∈ I_t][j* ∈ T_t]: the Oracle's dividend is −(K − 1)/K, the lowest; everyone is negative (t = 1 holds both)
    assert (redundant["mean"] < 0).all() and redundant["mean"].idxmin() == "oracle"
    assert redundant.loc["oracle", "mean"] == pytest.approx(-(K - 1) / K)
    overview = stratum_overview(board, strata_counts(rows)).set_index("stratum")
    assert overview.loc["synergistic", "leader"] == "oracle" and overview.loc["synergistic", "instances"] == 12
    assert overview.loc["redundant", "negative_means"] == overview.loc["redundant", "explainers"] == 3
    assert overview.loc["redundant", "lowest"] == "oracle" and overview.loc["all", "all_instances"] == 36
    assert (board["ci_low"] <= board["mean"]).all() and (board["mean"] <= board["ci_high"]).all()
    assert (board["n"] == np.where(board["stratum"] == "all", 36, 12)).all()


def test_mean_ranks_and_wilcoxon_per_stratum(rows):
    parts = split_by_stratum(rows)
    ranks = stratum_mean_ranks(parts).set_index(["stratum", "explainer"])["mean_rank"]
    assert ranks["synergistic", "oracle"] == 1.0 and ranks["redundant", "oracle"] == 3.0
    tests, why_not = stratum_wilcoxon(parts)
    assert not why_not and set(tests["stratum"]) == {"synergistic", "redundant", "all"}
    assert set(tests.loc[tests.stratum == "synergistic", "best"]) == {"oracle"}
    # 12 pairs, every difference positive: the exact two-sided p-value is 2 / 2^12
    reverse = tests[(tests.stratum == "synergistic") & (tests.explainer == "reverse")].iloc[0]
    assert reverse["p_value"] == pytest.approx(2 / 2**12) and reverse["p_bonferroni"] == pytest.approx(4 / 2**12)


def test_bootstrap_is_seeded_vectorised_and_matches_the_resampling_formula():
    values = np.random.default_rng(3).normal(0.2, 1.0, size=40)
    ci = bootstrap_mean_ci(values, resamples=300, seed=7)
    rng = np.random.default_rng(7)
    means = [values[rng.integers(0, 40, size=40)].mean() for _ in range(300)]  # the same draws, one resample at a time
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert ci.mean == pytest.approx(values.mean()) and ci.n == 40 and bootstrap_mean_ci(values, resamples=300, seed=7) == ci
    wide = bootstrap_mean_ci(np.random.default_rng(4).normal(0, 1, size=400), resamples=4000)
    assert wide.high - wide.low == pytest.approx(2 * 1.96 / math.sqrt(400), rel=0.12)  # ≈ the normal interval of a mean
    assert bootstrap_mean_ci([0.5] * 5) == bootstrap_mean_ci([0.5] * 5) and bootstrap_mean_ci([0.5] * 5).low == 0.5
    one = bootstrap_mean_ci([0.3])
    assert one.mean == 0.3 and math.isnan(one.low) and math.isnan(one.high)


def test_bootstrap_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="1 NaN or infinite entries; drop the instances without a value first"):
        bootstrap_mean_ci([0.1, np.nan, 0.2])
    with pytest.raises(ValueError, match="resamples must be a positive integer"):
        bootstrap_mean_ci([0.1, 0.2], resamples=0)
    with pytest.raises(ValueError, match="confidence must be a number strictly between 0 and 1"):
        bootstrap_mean_ci([0.1, 0.2], confidence=95)
    with pytest.raises(ValueError, match="no column 'fsyn'"):
        bootstrap_table(pd.DataFrame({"explainer": ["a"]}), ["explainer"], "fsyn")


def test_explainers_that_fail_on_different_instances_are_compared_on_the_instances_all_completed(rows):
    failed = rows.copy()
    lost = failed["instance_id"].isin([f"and-{i}" for i in range(4)]) & (failed["explainer"] == "oracle")
    failed.loc[lost, ["status", "fsyn"]] = ["failed", np.nan]
    board = stratum_leaderboard(split_by_stratum(failed), resamples=200)
    synergy = board[board.stratum == "synergistic"].set_index("explainer")
    assert synergy["n"].to_dict() == {"oracle": 8, "random": 12, "reverse": 12} and (synergy["paired_n"] == 8).all()
    kept = failed[failed["instance_id"].isin([f"and-{i}" for i in range(4, 12)]) & (failed["explainer"] == "random")]
    assert synergy.loc["random", "paired_mean"] == pytest.approx(kept["fsyn"].mean())
    assert synergy.loc["oracle", "position"] == 1
    overview = stratum_overview(board, strata_counts(failed)).set_index("stratum")
    assert overview.loc["synergistic", "basis"] == "paired" and overview.loc["synergistic", "paired_instances"] == 8
    assert overview.loc["synergistic", "runner_up_mean"] == pytest.approx(kept["fsyn"].mean())
