"""The report's headroom section and the normalised F_syn in the leaderboard CSV (fsyn_search rows)."""

import pandas as pd
import pytest

from synfaith.report import write_report
from synfaith.runs import RunStore, parse_config, run


@pytest.fixture(scope="module")
def searched_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("headroom")
    run(parse_config({
        "output_dir": str(directory),
        "models": [{"path": "toy", "name": "toy", "device": "cpu", "batch_size": 32}],
        "datasets": [{"kind": "synthetic", "limit": 4, "options": {"per_cell": 1, "subsets": ["synergy"]}}],
        "explainers": [{"name": "random"}, {"name": "rollout"}, {"name": "fsyn_search"}],
        "metrics": {"compute": ["redundancy", "fsyn"]},
        "execution": {"progress": False},
    }))
    write_report(directory)
    return directory


def test_headroom_table_divides_by_the_search_on_the_same_instance(searched_run):
    rows = RunStore(searched_run).read_rows()
    ok = rows[rows["status"] == "ok"].pivot(index="instance_id", columns="explainer", values="fsyn")
    table = pd.read_csv(searched_run / "report" / "tables" / "headroom.csv", index_col=0)
    assert table.loc["fsyn_search", "at_bound"] == 1.0
    for explainer in ("random", "rollout"):
        usable = ok[ok["fsyn_search"] > 0.01]
        expected = (usable[explainer] / usable["fsyn_search"]).mean()
        assert table.loc[explainer, "fsyn_normalised"] == pytest.approx(expected)
        assert table.loc[explainer, "headroom"] == pytest.approx((ok["fsyn_search"] - ok[explainer]).mean())
    board = pd.read_csv(searched_run / "report" / "tables" / "leaderboard_by_dataset.csv", index_col=0)
    assert board.loc["rollout", "normalised_all_mean"] == pytest.approx(table.loc["rollout", "fsyn_normalised"])
    assert 'id="headroom"' in (searched_run / "report" / "index.html").read_text()
