"""The report renders every legitimate run: one instance, one explainer, one subset, every answer
right, every row failed. Each page says what could not be computed and why, and warns about small
samples. Report files are written atomically (temporary file beside the target, then a rename).

One small real run is made once; every other shape is a run directory holding a filtered copy of
its rows.
"""

import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synfaith.analysis.sample_size import SMALL_SAMPLE
from synfaith.cli import main
from synfaith.metrics.registry import all_metric_columns
from synfaith.report import page as report_page
from synfaith.report import write_report
from synfaith.runs import RunStore, parse_config, run

EXPLAINERS = ["random", "oracle", "input_gradients"]
SMALL_SAMPLE_TEXT = f"test rests on fewer than {SMALL_SAMPLE} instances"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A real run: the toy model, 2 existence instances per subset (6), three explainers, cheap metrics."""
    directory = tmp_path_factory.mktemp("small-runs") / "base"
    config = {
        "output_dir": str(directory),
        "models": [{"path": "toy", "name": "toy", "device": "cpu"}],
        "datasets": [{"kind": "synthetic", "options": {"per_cell": 2, "families": ["existence"]}}],
        "explainers": [{"name": name} for name in EXPLAINERS],
        "metrics": {"compute": ["redundancy", "unimodal", "fsyn"], "steps": 3},
        "execution": {"progress": False},
    }
    run(parse_config(config))
    store = RunStore(directory)
    rows = pa.concat_tables([pq.read_table(shard) for shard in store.shards()]).to_pylist()
    assert len(rows) == 6 * len(EXPLAINERS)
    return store, rows


def _subset(row: dict) -> str:
    return json.loads(row["meta"])["subset"]


def _fail(row: dict) -> dict:
    """The row as a generate-stage failure: no answer, no explanation, no metric value."""
    failed = dict(row, status="failed", stage="generate", message="generate: the answer could not be parsed from 'maybe'")
    for name in ("response", "answer", "correct", "image_scores", "text_scores", "explain_seconds", "explain_model_calls"):
        failed[name] = None
    for column in all_metric_columns():
        failed[column.name] = None
    return failed


def _shapes(all_rows: list[dict]) -> dict[str, list[dict]]:
    rows = [r for r in all_rows if r["status"] == "ok"]  # a real run may hold a failure row (e.g. a flat Oracle map)
    first = rows[0]["instance_id"]
    mixed = [dict(row, correct=i % 2 == 0) for i, row in enumerate(r for r in rows if r["explainer"] == "random")]
    return {
        "one_instance_one_explainer": [r for r in rows if r["instance_id"] == first and r["explainer"] == "random"],
        "one_instance_many_explainers": [r for r in rows if r["instance_id"] == first],
        "one_explainer_many_instances": mixed,
        "one_subset": [r for r in rows if _subset(r) == "synergy"],
        "every_answer_right": [dict(r, correct=True) for r in rows],
        "every_row_failed": [_fail(r) for r in all_rows],
    }


# what each shape cannot compute: (the analysis named on the page, a phrase of its reason)
SKIPPED = {
    "one_instance_one_explainer": [
        ("Wilcoxon tests against the best explainer", "needs at least 2 explainers; this run has 1"),
        ("mixed-effects model", "needs at least 2 explainers; this run has 1"),
        ("Kendall τ between visual and textual rankings", "needs at least 3 explainers; this run has 1"),
    ],
    "one_instance_many_explainers": [
        ("mixed-effects model", "needs at least 2 instances; this run has 1"),
    ],
    "one_explainer_many_instances": [
        ("Wilcoxon tests against the best explainer", "needs at least 2 explainers; this run has 1"),
        ("mixed-effects model", "needs at least 2 explainers; this run has 1"),
        ("Kendall τ between visual and textual rankings", "needs at least 3 explainers; this run has 1"),
    ],
    "one_subset": [],
    "every_answer_right": [
        ("correct / incorrect answers compared", "every answer is correct (6 instances)"),
    ],
    "every_row_failed": [
        (analysis, f"every one of the {6 * len(EXPLAINERS)} rows failed ({6 * len(EXPLAINERS)} at stage 'generate')")
        for analysis in ("F_syn leaderboard", "mixed-effects model", "metric means", "unimodal rankings and Kendall τ",
                         "F_syn against the SII ground truth", "redundancy profile", "influence and stability",
                         "time against F_syn", "visual maps and token scores")
    ],
}


@pytest.fixture(scope="module")
def reports(base, tmp_path_factory):
    """Every shape written as its own run directory and reported: {shape: (run dir, page text)}."""
    store, rows = base
    config = store.config()
    made = {}
    for shape, selected in _shapes(rows).items():
        directory = tmp_path_factory.mktemp(shape)
        copy = RunStore(directory)
        copy.initialise(config)
        copy.write_rows(selected, shape)
        page = write_report(directory)
        assert page == directory / "report" / "index.html"
        made[shape] = (directory, page.read_text(encoding="utf-8"))
    return made


def _text(page: str) -> str:
    """The page's visible text, whitespace collapsed (for phrases that span tags)."""
    import html

    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.split("<body>", 1)[1])))


@pytest.mark.parametrize("shape", sorted(SKIPPED))
def test_every_shape_renders_with_a_small_sample_warning(reports, shape):
    _, page = reports[shape]
    assert page.rstrip().endswith("</html>")
    assert 'id="small-sample"' in page and SMALL_SAMPLE_TEXT in page
    assert "it raised" not in page, "an analysis crashed instead of saying why it could not be computed"
    assert '<section id="leaderboard">' in page and '<section id="failures">' in page


@pytest.mark.parametrize("shape", sorted(SKIPPED))
def test_the_page_says_what_was_not_computed_and_why(reports, shape):
    directory, page = reports[shape]
    text = _text(page)
    for analysis, reason in SKIPPED[shape]:
        assert f"Not computed: {analysis} — " in text, f"{shape}: {analysis!r} not reported as skipped"
        assert re.search(re.escape(f"Not computed: {analysis} — ") + r"[^.]*" + re.escape(reason), text), f"{shape}: reason for {analysis!r}"
    listed = json.loads((directory / "report" / "summary.json").read_text())["not_computed"]
    for analysis, _ in SKIPPED[shape]:
        assert any(f": {analysis} — " in line for line in listed)
    # what was computed is there: the SII is never part of these runs, the rest only where the shape allows it
    assert "F_syn against the SII ground truth — " in text
    if shape != "every_row_failed":
        assert (directory / "report" / "tables" / "leaderboard_by_dataset.csv").is_file()
        assert list((directory / "report" / "figures").glob("qualitative_*.png"))


def test_single_instance_cells_show_their_mean_without_an_sd(reports):
    directory, _ = reports["one_instance_one_explainer"]
    import pandas as pd

    board = pd.read_csv(directory / "report" / "tables" / "leaderboard_by_dataset.csv", index_col=0)
    line = board.iloc[0]
    assert line["all_n"] == 1 and pd.notna(line["all_mean"])
    assert pd.isna(line["all_sd"]) and pd.isna(line["all_ci_low"]) and pd.isna(line["all_ci_high"])  # one instance: no spread, no interval
    assert "(n = 1)" in (directory / "report" / "index.html").read_text()  # the page says why no sd is shown
    counts = (directory / "report" / "tables" / "leaderboard_counts.csv").read_text().splitlines()
    assert counts[1].startswith("random,1")


def test_every_answer_right_writes_no_correct_only_copies(reports):
    directory, _ = reports["every_answer_right"]
    tables = directory / "report" / "tables"
    assert not (tables / "leaderboard_correct.csv").exists()  # it would repeat the pooled leaderboard line for line
    import pandas as pd

    splits = list(tables.glob("*_by_correctness.csv"))
    assert splits and all(set(pd.read_csv(split)["answers"]) == {"all"} for split in splits)


def test_every_row_failed_still_lists_the_failures(reports):
    directory, page = reports["every_row_failed"]
    assert (directory / "report" / "tables" / "failures_by_stage.csv").is_file()
    assert "the answer could not be parsed" in page
    assert '<b data-summary="failure_rows">18</b>' in page
    assert "smallest n = 0" in page


def test_the_report_command_exits_0_on_a_tiny_run(reports):
    directory, _ = reports["one_instance_one_explainer"]
    assert main(["report", str(directory)]) == 0


def test_a_run_without_rows_is_refused_in_one_line(base, tmp_path, capsys):
    store, _ = base
    RunStore(tmp_path).initialise(store.config())
    with pytest.raises(ValueError, match="holds no result rows"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert "holds no result rows" in error and len(error.splitlines()) == 1


def test_every_report_file_is_written_through_a_rename(reports, monkeypatch):
    directory, _ = reports["one_subset"]
    replaced = []
    real_replace = os.replace

    def counting_replace(source, target):
        assert Path(source).parent == Path(target).parent and Path(source).name.endswith(".tmp")
        replaced.append(Path(target))
        real_replace(source, target)

    monkeypatch.setattr(report_page.os, "replace", counting_replace)
    write_report(directory)
    files = {p for p in (directory / "report").rglob("*") if p.is_file()}
    assert not [p for p in files if p.name.endswith(".tmp")]
    assert {p for p in files if p.suffix in {".csv", ".png", ".html", ".json"}} == files
    assert set(replaced) == files and len(replaced) == len(files)  # each file written once, all through a rename


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "index.html"
    target.write_text("old page")

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(report_page.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        report_page.write_atomically(target, "new page")
    assert target.read_text() == "old page"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]
