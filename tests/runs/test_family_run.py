"""One run over the tiny twins of every family: Random, InputGradients and MultiSHAP on each
model complete with no failure rows, and the report shows one row group per model."""

import json

import pandas as pd
import pytest

from synfaith.data.synthetic import synthetic_instances
from synfaith.report import write_report
from synfaith.runs import RunStore, parse_config, run
from synfaith.testing import build_twin
from synfaith.testing.twins import ARCHS, families

EXPLAINERS = [
    {"name": "random"},
    {"name": "input_gradients"},
    {"name": "multishap", "options": {"budget": 128, "max_visual_players": 8, "max_text_players": 4}},
]


def _questions(folder):
    """One existence question per subset of the synthetic world, as JSONL. Random-weight twins
    answer neither Yes nor No (some only newlines), so the target is their response's first
    character (``answer_pattern``)."""
    folder.mkdir(parents=True)
    lines = []
    for instance in synthetic_instances(1, families=("existence",)):
        instance.load_image().save(folder / f"{instance.id}.png")
        lines.append({"id": instance.id, "image": f"{instance.id}.png", "question": instance.question,
                      "answer": instance.answer, "answer_pattern": "(?s)(.)"})
    path = folder / "questions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def family_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("family-run")
    archs = [*ARCHS, *families()]
    models = [{"path": str(build_twin(arch, root / "twins" / arch)), "name": arch, "device": "cpu"} for arch in archs]
    config = {
        "output_dir": str(root / "run"),
        "models": models,
        "datasets": [{"kind": "jsonl", "options": {"path": str(_questions(root / "data"))}}],
        "explainers": EXPLAINERS,
        "metrics": {"compute": ["fsyn"], "steps": 3},
        "execution": {"progress": False},
    }
    run(parse_config(config))
    store = RunStore(root / "run")
    return archs, store, pd.DataFrame(store.read_rows())


def test_every_family_completes_with_no_failure_rows(family_run):
    archs, _, rows = family_run
    failed = rows[rows["status"] != "ok"]
    assert failed.empty, failed[["model", "explainer", "stage", "message"]].to_string()
    assert sorted(rows["model"].unique()) == sorted(archs)
    per_model = rows.groupby("model").size()
    assert (per_model == 3 * len(EXPLAINERS)).all(), per_model.to_dict()
    assert rows["fsyn"].notna().all()


def test_the_report_shows_one_row_group_per_model(family_run):
    archs, store, rows = family_run
    out = write_report(store.run_dir)
    groups = pd.read_csv(out.parent / "tables" / "model_groups.csv")
    assert sorted(groups["model"].unique()) == sorted(archs)
    for arch, group in groups.groupby("model"):
        assert sorted(group["explainer"]) == sorted(e["name"] for e in EXPLAINERS), arch
        assert (group["n"] == 3).all() and (group["failed"] == 0).all()
        expected = rows[rows["model"] == arch].groupby("explainer")["fsyn"].mean()
        assert group.set_index("explainer")["mean"].to_dict() == pytest.approx(expected.to_dict(), rel=1e-9)
    page = out.read_text(encoding="utf-8")
    assert 'id="table-model_groups"' in page


def test_a_pair_whose_rows_all_failed_keeps_its_group_line():
    from synfaith.analysis.leaderboard import model_groups

    rows = pd.DataFrame([
        {"model": "a", "explainer": "x", "status": "ok", "fsyn": 0.2},
        {"model": "a", "explainer": "x", "status": "ok", "fsyn": 0.4},
        {"model": "b", "explainer": "x", "status": "ok", "fsyn": 0.1},
        {"model": "b", "explainer": "y", "status": "failed", "fsyn": None},
        {"model": "b", "explainer": "y", "status": "failed", "fsyn": None},
    ])
    table = model_groups(rows)
    assert table.loc[("a", "x"), "n"] == 2 and table.loc[("a", "x"), "mean"] == pytest.approx(0.3)
    assert table.loc[("b", "y"), "n"] == 0 and table.loc[("b", "y"), "failed"] == 2 and pd.isna(table.loc[("b", "y"), "mean"])
    assert list(table.index) == [("a", "x"), ("b", "x"), ("b", "y")]
