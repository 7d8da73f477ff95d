"""The cost table: evaluations, seconds and token-forwards per metric and per instance."""

import pandas as pd
import pytest

from synfaith.analysis.validation import cost_comparison


def test_cost_table_has_token_forwards_per_metric_and_per_instance():
    rows = []
    for instance, (tokens, evaluations) in enumerate([(6000, 100), (9000, 150)]):
        for explainer, (fsyn_c, sii_c) in {"a": (50, 1000), "b": (60, 1200)}.items():
            rows.append({
                "model": "m", "dataset": "d", "instance_id": str(instance), "explainer": explainer, "status": "ok",
                "fsyn": 0.1, "sii": 0.2, "fsyn_coalitions": fsyn_c, "fsyn_seconds": 1.0, "sii_coalitions": sii_c,
                "sii_seconds": 20.0, "unimodal_coalitions": 40, "unimodal_seconds": 0.5,
                "instance_token_forwards": tokens, "instance_evaluations": evaluations,
            })
    table = cost_comparison(pd.DataFrame(rows))
    # 60 tokens per evaluation on both instances: F_syn's mean evaluations (55) × 60
    assert table.loc["F_syn", "token-forwards"] == pytest.approx(55 * 60)
    assert table.loc["SII ground truth", "token-forwards"] == pytest.approx(1100 * 60)
    assert table.loc["SII ground truth", "evaluations vs F_syn"] == pytest.approx(20.0)
    line = table.loc["instance (one shared game)"]
    assert (line["pairs"], line["evaluations"], line["token-forwards"]) == (2, 125, 7500)
