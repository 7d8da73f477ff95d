"""The analyses on rows with planted effects: known answers in, known answers out."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, wilcoxon

from synfaith.analysis.leaderboard import fit_mixed_model, leaderboard, mean_ranks, wilcoxon_against_best
from synfaith.analysis.rank_agreement import explainer_ranking, rank_agreement
from synfaith.analysis.redundancy_report import redundancy_summary
from synfaith.analysis.simulate import simulated_rows
from synfaith.analysis.validation import fsyn_sii_agreement

EFFECTS = {"random": 0.0, "gradcam": 0.01, "tam": 0.02, "rollout": 0.05, "attnlrp": 0.08}


@pytest.fixture(scope="module")
def rows():
    return simulated_rows(EFFECTS, instances_per_dataset=60, seed=1)


def test_mixed_model_recovers_planted_effects_within_their_ci(rows):
    result = fit_mixed_model(rows)
    table = result.table.set_index("explainer")
    assert set(table.index) == set(EFFECTS) - {"random"}
    for explainer, effect in EFFECTS.items():
        if explainer != "random":
            assert table.loc[explainer, "ci_low"] <= effect <= table.loc[explainer, "ci_high"], explainer
    assert table.index[0] == "attnlrp" and table.loc["attnlrp", "p_value"] < 1e-6
    assert "random intercept per instance" in result.method and result.groups == 3 * 60
    assert any("model: 3 levels" in note and "fixed effect" in note for note in result.notes)


def test_per_dataset_mixed_models_drop_the_dataset_term(rows):
    from synfaith.analysis.leaderboard import mixed_models_per_dataset

    table = mixed_models_per_dataset(rows)
    assert sorted(table.dataset.unique()) == ["dataset-0", "dataset-1", "dataset-2"]
    assert table.notes.str.contains("dataset: one level").all()
    attnlrp = table[table.explainer == "attnlrp"]
    assert ((attnlrp.ci_low <= 0.08) & (0.08 <= attnlrp.ci_high)).all()


def test_mixed_model_drops_single_level_terms_and_uses_variance_components_when_levels_allow():
    one_dataset = simulated_rows(EFFECTS, datasets=1, models=6, instances_per_dataset=15, seed=2)
    result = fit_mixed_model(one_dataset)
    assert any(note.startswith("dataset: one level") for note in result.notes)
    assert "crossed random intercepts for model, instance" in result.method
    assert result.table.set_index("explainer").loc["attnlrp", "coefficient"] == pytest.approx(0.08, abs=0.02)
    with pytest.raises(ValueError, match="reference explainer 'lime'"):
        fit_mixed_model(one_dataset, reference="lime")


def test_planted_rank_disagreement_gives_tau_near_its_known_value(rows):
    """Visual scores follow the effects, textual ones reverse them: τ = −1 for insertion and SRG, and for deletion."""
    agreement = rank_agreement(rows).set_index(["scope", "criterion"])
    for criterion in ("deletion", "insertion", "srg"):
        assert agreement.loc[("all", criterion), "kendall_tau"] == pytest.approx(-1.0)
        assert agreement.loc[("all", criterion), "explainers"] == 5
    # a partial disagreement: swap two textual ranks → τ = 1 − 2·(1 discordant pair)/(10 pairs) = 0.8
    agreeing = rows.copy()
    agreeing["textual_insertion"] = agreeing["visual_insertion"]
    swap = {"rollout": "attnlrp", "attnlrp": "rollout"}
    means = agreeing.groupby("explainer")["visual_insertion"].mean()
    agreeing["textual_insertion"] = agreeing["explainer"].map(lambda e: means[swap.get(e, e)])
    tau = rank_agreement(agreeing).set_index(["scope", "criterion"]).loc[("all", "insertion"), "kendall_tau"]
    assert tau == pytest.approx(0.8)
    ranking = explainer_ranking(rows, "visual_deletion", higher_is_better=False)
    assert ranking["attnlrp"] == 1 and ranking["random"] == 5


def test_wilcoxon_and_bonferroni_match_scipy(rows):
    tests = wilcoxon_against_best(rows).set_index("explainer")
    assert (tests["best"] == "attnlrp").all() and len(tests) == 4
    wide = rows.pivot_table(index=["model", "dataset", "instance_id"], columns="explainer", values="fsyn")
    for explainer in tests.index:
        expected = wilcoxon(wide["attnlrp"], wide[explainer], alternative="two-sided", zero_method="wilcox")
        assert tests.loc[explainer, "statistic"] == pytest.approx(expected.statistic)
        assert tests.loc[explainer, "p_value"] == pytest.approx(expected.pvalue)
        assert tests.loc[explainer, "p_bonferroni"] == pytest.approx(min(1.0, 4 * expected.pvalue))
    ranks = mean_ranks(rows)
    assert list(ranks.index) == ["attnlrp", "rollout", "tam", "gradcam", "random"]
    assert ranks.mean() == pytest.approx(3.0)  # ranks 1..5 average to 3 on every instance


def test_leaderboard_and_validation_tables(rows):
    board = leaderboard(rows)
    assert list(board["mean"].index)[0] == "attnlrp"
    expected = rows[rows.explainer == "tam"].fsyn
    assert board["mean"].loc["tam", "all"] == pytest.approx(expected.mean())
    assert board["sd"].loc["tam", "all"] == pytest.approx(expected.std())
    agreement = fsyn_sii_agreement(rows).set_index("scope")
    assert agreement.loc["all", "spearman"] > 0.95 and agreement.loc["all", "pairs"] == len(rows)
    assert agreement.loc["all", "kendall"] == pytest.approx(kendalltau(rows.fsyn, rows.sii)[0])


def test_redundancy_summary_counts_each_instance_once():
    frame = pd.DataFrame(
        {
            "model": "m", "dataset": "d", "instance_id": ["a", "a", "b", "b"], "explainer": ["x", "y", "x", "y"],
            "status": "ok", "correct": [True, True, False, False],
            "v_full": [0.9, 0.9, 0.8, 0.8], "v_image_only": [0.2, 0.2, 0.7, 0.7], "v_text_only": [0.6, 0.6, 0.75, 0.75],
            "v_empty": [0.1, 0.1, 0.7, 0.7], "modality_dividend": [0.2, 0.2, -0.05, -0.05],
        }
    )
    summary = redundancy_summary(frame).iloc[0]
    assert summary["instances"] == 2 and summary["accuracy"] == 0.5
    assert summary["mean_dividend"] == pytest.approx(0.075) and summary["share_redundant"] == 0.5
    assert summary["answer_survives_image_only"] == 0.5 and summary["answer_survives_text_only"] == 1.0
    assert np.isclose(summary["mean_p_text_only"], 0.675)
