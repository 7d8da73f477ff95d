"""The mixed model says when it cannot be trusted (issue 16): planted tables in, known answers and honest flags out."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from synfaith.analysis.mixed_model import REML_SOURCE, UNTRUSTWORTHY, mixed_model, mixed_models_per_dataset
from synfaith.analysis.mixed_model_checks import clustered_ols, variance_f_tests
from synfaith.analysis.rows import NotComputable
from synfaith.analysis.simulate import PAPER_EFFECTS, simulated_rows

EFFECTS = {"random": 0.0, "gradcam": 0.01, "tam": 0.02, "rollout": 0.05, "attnlrp": 0.08}
FALLBACK = "instance-clustered robust OLS"
# Where a test checks many intervals at once (a grid of tables × 4–9 coefficients), it asks for 99.9%
# intervals: at 95% a few planted values would fall outside by chance alone.
WIDE = 0.999


def old_fit(rows: pd.DataFrame, fixed: str = " + C(model) + C(dataset)"):
    """The fit before issue 16: REML with L-BFGS alone."""
    data = rows.assign(instance=rows["dataset"] + "/" + rows["instance_id"])
    model = smf.mixedlm("fsyn ~ C(explainer, Treatment(reference='random'))" + fixed, data, groups=data["instance"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=True, method=["lbfgs"])


def assert_planted_inside(table: pd.DataFrame, effects: dict[str, float]) -> None:
    table = table.set_index("explainer")
    assert set(table.index) == set(effects) - {"random"}
    for explainer, effect in effects.items():
        if explainer != "random":
            low, high = table.loc[explainer, "ci_low"], table.loc[explainer, "ci_high"]
            assert low <= effect <= high, f"{explainer}: planted {effect} outside [{low:.4f}, {high:.4f}]"


def assert_consistent(result, effects: dict[str, float]) -> None:
    """Trustworthy: planted effects inside the REML intervals, no reason, no fallback. Not: a reason, the named fallback, its table."""
    if result.trustworthy:
        assert result.reason == "" and result.fallback == "" and result.fallback_table is None
        assert np.isfinite(result.log_likelihood) and result.converged and result.source == REML_SOURCE
        assert_planted_inside(result.table, effects)
    else:
        assert result.reason and result.fallback.startswith(FALLBACK) and result.source == result.fallback
        assert any(n.startswith(UNTRUSTWORTHY) and result.fallback in n for n in result.notes)
        assert_planted_inside(result.fallback_table, effects)
        assert (result.reported_table["source"] == result.fallback).all()


def test_the_99k_table_that_broke_lbfgs_is_fitted_and_trusted():
    """3 models × 3 datasets × 10 explainers × 1,111 instances, noise sd 0.1: L-BFGS alone ends at +inf (the issue's table)."""
    rows = simulated_rows(PAPER_EFFECTS, instances_per_dataset=1111, noise_sd=0.1, seed=0)
    assert len(rows) == 99_990
    broken = old_fit(rows)  # the failure this table must reproduce: +inf, zero variance, dataset terms 0 ± 1e5, "converged"
    assert broken.llf == np.inf and float(broken.cov_re.iloc[0, 0]) == 0 and broken.converged
    assert (broken.bse_fe.filter(like="dataset") > 1e4).all()
    result = mixed_model(rows)
    assert result.trustworthy and result.optimiser == "bfgs" and np.isfinite(result.log_likelihood)
    components = result.variance_components.set_index("component")
    assert components.loc["instance", "variance"] == pytest.approx(0.1**2, rel=0.1)  # planted instance sd 0.1
    assert components.loc["residual", "variance"] == pytest.approx(0.1**2, rel=0.02)  # planted noise sd 0.1
    assert not components.loc["instance", "on_boundary"] and components.loc["instance", "p_zero"] < 1e-100
    assert_consistent(result, PAPER_EFFECTS)
    assert (result.table["se"] < 0.002).all()  # ≈ 0.1·√(2/9999): the within-instance contrast


@pytest.mark.parametrize("seed", range(9))
def test_single_model_tables_that_raised_singular_matrix_are_fitted(seed):
    """One model, three datasets, 100 instances each, noise sd 0.15: L-BFGS alone raised LinAlgError on 8 of these 9 seeds."""
    rows = simulated_rows(EFFECTS, models=1, datasets=3, instances_per_dataset=100, noise_sd=0.15, seed=seed)
    if seed == 0:
        with pytest.raises(np.linalg.LinAlgError):
            old_fit(rows, " + C(dataset)")
    result = mixed_model(rows, confidence=WIDE)
    assert result.trustworthy, result.reason
    assert result.variance_components.set_index("component").loc["instance", "variance"] == pytest.approx(0.01, abs=0.004)
    assert_consistent(result, EFFECTS)


@pytest.mark.parametrize("noise_sd", [0.05, 0.1, 0.2, 0.3])
def test_noise_grid_across_layouts_never_raises_and_says_when_not_to_trust(noise_sd):
    layouts = {
        "3 models × 3 datasets": dict(instances_per_dataset=30),
        "one model, one dataset": dict(models=1, datasets=1, instances_per_dataset=40),
        "few instances": dict(models=1, datasets=1, instances_per_dataset=3),
        "unbalanced (20% of rows failed)": dict(instances_per_dataset=30, drop_share=0.2),
    }
    for layout, options in layouts.items():
        result = mixed_model(simulated_rows(EFFECTS, noise_sd=noise_sd, seed=7, **options), confidence=WIDE)
        assert_consistent(result, EFFECTS)
        if layout == "few instances":
            assert not result.trustworthy and "only 3 instances" in result.reason
            assert result.fallback.endswith("t with 2 df)")
        else:
            assert result.trustworthy, f"{layout}: {result.reason}"


def test_a_planted_zero_instance_variance_is_flagged_and_the_fallback_reported():
    zero = mixed_model(simulated_rows(EFFECTS, models=1, datasets=1, instances_per_dataset=60, instance_sd=0.0, seed=0), confidence=WIDE)
    components = zero.variance_components.set_index("component")
    assert components.loc["instance", "on_boundary"] and components.loc["instance", "p_zero"] > 0.05
    assert components.loc["instance", "share"] < 0.05
    assert not zero.trustworthy and "the instance variance cannot be told from zero" in zero.reason
    assert_consistent(zero, EFFECTS)
    assert zero.fallback.endswith("t with 59 df)") and len(zero.table) == 4  # the REML coefficients are kept, for comparison
    planted = mixed_model(simulated_rows(EFFECTS, models=1, datasets=1, instances_per_dataset=60, instance_sd=0.1, seed=0), confidence=WIDE)
    assert planted.trustworthy and not planted.variance_components.set_index("component").loc["instance", "on_boundary"]
    assert_consistent(planted, EFFECTS)


def test_a_planted_zero_model_variance_is_flagged_in_the_crossed_model():
    options = dict(datasets=1, models=6, instances_per_dataset=15, seed=2)
    crossed = mixed_model(simulated_rows(EFFECTS, **options), confidence=WIDE)
    assert crossed.trustworthy and "crossed random intercepts for model, instance" in crossed.method
    assert_consistent(crossed, EFFECTS)
    zero = mixed_model(simulated_rows(EFFECTS, model_sd=0.0, **options), confidence=WIDE)
    components = zero.variance_components.set_index("component")
    assert components.loc["model", "on_boundary"] and not components.loc["instance", "on_boundary"]
    assert not zero.trustworthy and "the model variance cannot be told from zero" in zero.reason
    assert_consistent(zero, EFFECTS)


def test_real_toy_rows_that_raised_singular_matrix():
    """Rows of the embedded toy VLM (2 instances × 9 explainers) on which L-BFGS alone raised LinAlgError."""
    explainers = ["random", "integrated_gradients", "input_gradients", "gradcam", "rollout", "grad_rollout", "attnlrp", "llava_cam", "tam"]
    fsyn = [0.183037, 0.168161, 0.067384, 0.036145, 0.106108, 0.402761, 0.431182, 0.036145, 0.077331,
            0.488399, 0.518389, 0.345570, 0.654126, 0.502058, 0.378962, 0.206258, 0.654126, -0.001091]
    rows = pd.DataFrame({"model": "toy", "dataset": "synthetic", "status": "ok", "fsyn": fsyn, "explainer": explainers * 2,
                         "instance_id": [f"test-existence-synergy-0000{i}" for i in (0, 1) for _ in explainers]})
    with pytest.raises(np.linalg.LinAlgError):
        old_fit(rows, "")
    result = mixed_model(rows)
    assert not result.trustworthy and "only 2 instances" in result.reason
    assert result.fallback.endswith("t with 1 df)") and len(result.fallback_table) == 8
    # the fallback's coefficients of a balanced table are the differences of explainer means from Random's
    means = rows.groupby("explainer")["fsyn"].mean()
    fallback = result.fallback_table.set_index("explainer")["coefficient"]
    assert fallback.to_dict() == pytest.approx((means - means["random"]).drop("random").to_dict())


def test_variance_f_test_equals_the_anova_of_instance_dummies():
    rows = simulated_rows(EFFECTS, models=2, datasets=2, instances_per_dataset=8, instance_sd=0.03, seed=4, drop_share=0.1)
    data = rows.assign(instance=rows["dataset"] + "/" + rows["instance_id"])
    restricted = smf.ols("fsyn ~ C(explainer) + C(model) + C(dataset)", data).fit()
    full = smf.ols("fsyn ~ C(explainer) + C(model) + C(instance)", data).fit()
    df_factor = restricted.df_resid - full.df_resid
    f = ((restricted.ssr - full.ssr) / df_factor) / (full.ssr / full.df_resid)
    design = np.column_stack([np.ones(len(data)), pd.get_dummies(data[["explainer", "model", "dataset"]], drop_first=True).to_numpy(float)])
    (test,) = variance_f_tests(data["fsyn"].to_numpy(), design, {"instance": pd.factorize(data["instance"])[0]})
    # 16 instances nested in 2 datasets: 14 more columns; full rank 1 + 4 explainers + 1 model + 15 instances = 21
    assert (test.df_factor, test.df_residual) == (df_factor, full.df_resid) == (14, len(data) - 21)
    assert test.f_statistic == pytest.approx(f) and test.p_value == pytest.approx(stats.f.sf(f, df_factor, full.df_resid))


def test_clustered_ols_is_cr1_with_t_on_clusters_minus_one():
    rows = simulated_rows(EFFECTS, models=1, datasets=1, instances_per_dataset=6, noise_sd=0.2, seed=5)
    clusters = pd.factorize(rows["instance_id"])[0]
    prefix = "C(explainer, Treatment(reference='random'))[T."
    table = clustered_ols(rows, "fsyn ~ C(explainer, Treatment(reference='random'))", clusters, prefix, 0.9).set_index("explainer")
    x = np.column_stack([np.ones(len(rows))] + [(rows["explainer"] == e).to_numpy(float) for e in ["attnlrp", "gradcam", "rollout", "tam"]])
    y = rows["fsyn"].to_numpy()
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    residual = y - x @ beta
    meat = sum(np.outer(x[clusters == g].T @ residual[clusters == g], x[clusters == g].T @ residual[clusters == g]) for g in range(6))
    n, p, groups = len(y), x.shape[1], 6
    se = np.sqrt(np.diag(bread @ meat @ bread) * groups / (groups - 1) * (n - 1) / (n - p))
    for j, explainer in enumerate(["attnlrp", "gradcam", "rollout", "tam"], start=1):
        assert table.loc[explainer, "coefficient"] == pytest.approx(beta[j])
        assert table.loc[explainer, "se"] == pytest.approx(se[j])
        half = stats.t.ppf(0.95, groups - 1) * se[j]
        assert table.loc[explainer, "ci_high"] - table.loc[explainer, "ci_low"] == pytest.approx(2 * half)


def test_per_dataset_models_carry_trust_and_source():
    rows = pd.concat([simulated_rows(EFFECTS, models=1, datasets=1, instances_per_dataset=40, seed=1),
                      simulated_rows(EFFECTS, models=1, datasets=1, instances_per_dataset=3, seed=1).assign(dataset="tiny")])
    table = mixed_models_per_dataset(rows)
    big, tiny = table[table.dataset == "dataset-0"], table[table.dataset == "tiny"]
    assert big.trustworthy.all() and (big.source == REML_SOURCE).all() and (big.reason == "").all()
    assert (~tiny.trustworthy).all() and tiny.source.str.startswith(FALLBACK).all() and tiny.reason.str.contains("only 3 instances").all()


def test_the_page_says_why_and_shows_the_named_fallback(tmp_path):
    from synfaith.report.build import _mixed_model
    from synfaith.report.page import ReportBuilder

    pages = {}
    for name, instance_sd in (("trusted", 0.1), ("zero", 0.0)):
        builder, summary = ReportBuilder(tmp_path / name), {}
        _mixed_model(builder, simulated_rows(EFFECTS, models=1, datasets=1, instances_per_dataset=60, instance_sd=instance_sd, seed=0), summary)
        pages[name] = ("".join(builder.sections[0].parts), summary, pd.read_csv(tmp_path / name / "tables" / "mixed_model.csv"))
    page, summary, table = pages["trusted"]
    assert "Diagnostics passed" in page and "not trustworthy" not in page and summary["lmm_trustworthy"] == "yes"
    assert (table.source == REML_SOURCE).all() and summary["lmm_best"] == table.explainer.iloc[0] == "attnlrp"
    page, summary, table = pages["zero"]
    assert "The mixed model is not trustworthy here" in page and "cannot be told from zero" in page
    assert f"Shown instead: <b>{FALLBACK}" in page and summary["lmm_trustworthy"] == "no"
    assert table.source.str.startswith(FALLBACK).all() and summary["lmm_source"].startswith(FALLBACK)
    assert summary["lmm_best"] == table.explainer.iloc[0] and summary["lmm_best_coefficient"] == f"{table.coefficient.iloc[0]:.3f}"
    assert (tmp_path / "zero" / "tables" / "mixed_model_untrusted.csv").is_file()
    variance = pd.read_csv(tmp_path / "zero" / "tables" / "mixed_model_variance.csv").set_index("component")
    assert bool(variance.loc["instance", "on_boundary"])


def test_bad_input_is_one_clear_error():
    rows = simulated_rows(EFFECTS, models=1, datasets=1, instances_per_dataset=5)
    with pytest.raises(NotComputable, match="reference explainer 'lime'"):
        mixed_model(rows, reference="lime")
    with pytest.raises(NotComputable, match="at least 2 explainers"):
        mixed_model(rows[rows.explainer == "random"])
    with pytest.raises(NotComputable, match="at least 2 instances"):
        mixed_model(rows[rows.instance_id == "i0"])
    with pytest.raises(NotComputable, match="lack column.*instance_id"):
        mixed_model(rows.drop(columns="instance_id"))
    with pytest.raises(NotComputable, match="1 fsyn value.*not finite"):
        mixed_model(rows.assign(fsyn=rows.fsyn.where(rows.index != 3, np.inf)))
    with pytest.raises(NotComputable, match="every fsyn value is 0.3: with no variation"):
        mixed_model(rows.assign(fsyn=0.3))
    with pytest.raises(NotComputable, match="confidence"):
        mixed_model(rows, confidence=95)
    with pytest.raises(ValueError, match="drop_share must lie in"):
        simulated_rows(EFFECTS, drop_share=1.0)


def test_the_leaderboard_module_still_exports_the_mixed_model():
    from synfaith import analysis
    from synfaith.analysis import leaderboard

    assert leaderboard.fit_mixed_model is leaderboard.mixed_model is analysis.mixed_model is mixed_model
    assert leaderboard.MixedModelResult is analysis.MixedModelResult
