"""Sensitivity analysis from a finished run: no explainer runs again."""

import pandas as pd
import pytest

from synfaith.cli import main
from synfaith.explainers.base import Explainer
from synfaith.runs import parse_config, run
from synfaith.runs.sensitivity import sensitivity_analysis


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sensitivity")
    run(parse_config({
        "output_dir": str(directory),
        "models": [{"path": "toy", "name": "toy", "device": "cpu", "batch_size": 64}],
        "datasets": [{"kind": "synthetic", "limit": 3, "options": {"per_cell": 1, "subsets": ["synergy"]}}],
        "explainers": [{"name": "random"}, {"name": "rollout"}],
        "metrics": {"compute": ["fsyn"]},
        "execution": {"progress": False},
    }))
    return directory


def test_sensitivity_reuses_attributions_and_reports_every_setting(finished_run, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("an explainer ran during the sensitivity analysis")

    monkeypatch.setattr(Explainer, "explain", forbidden)
    result = sensitivity_analysis(finished_run, steps_grid=(5, 11), blur_fractions=(0.125, 0.25), background_grid=(2, 6),
                                  sii_instances=2, progress=False)
    summary = result.summary.set_index(["parameter", "value"])
    assert list(summary.index) == [("default", 0.0), ("steps", 5.0), ("blur", 0.25), ("background_players", 2.0)]
    assert summary.loc[("default", 0.0), "kendall_tau_to_default"] == pytest.approx(1.0)
    assert (summary["sii_pairs"] == 4).all() and summary["fsyn_sii_spearman"].notna().all()
    default = result.values[result.values.parameter == "default"]
    pd.testing.assert_series_equal(default["fsyn"], default["stored_fsyn"], check_names=False)  # same game, same F_syn
    steps5 = result.values[result.values.parameter == "steps"]
    assert not (steps5["fsyn"].to_numpy() == default["fsyn"].to_numpy()).all()
    assert set(result.rankings["explainer"]) == {"random", "rollout"} and result.game_evaluations > 0


def test_sensitivity_command_writes_tables(finished_run, capsys):
    assert main(["sensitivity", str(finished_run), "--steps", "5,11", "--blur", "0.125", "--background", "6", "--sii-instances", "0"]) == 0
    out = capsys.readouterr().out
    assert "no explainer calls" in out
    summary = pd.read_csv(finished_run / "sensitivity" / "sensitivity_summary.csv")
    assert list(summary.parameter) == ["default", "steps"]
