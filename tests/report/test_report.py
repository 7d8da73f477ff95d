"""The report of a (small) demo run: files, figures, summary = tables, and a real browser."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from synfaith.analysis.sentences import format_value
from synfaith.cli import main
from synfaith.report.readme import current_block, demo_numbers, replace_block
from synfaith.runs import RunStore, parse_config, run

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {"mixed_model", "rank_shift", "mean_rank_heatmap", "fsyn_vs_sii", "modality_dividend", "pareto",
           "fsyn_deletion_curves", "fsyn_insertion_curves", "fsyn_by_stratum", "fsyn_vs_delta", "multishap_interactions"}  # + qualitative_<instance id> each


def figure_names(report: Path) -> set[str]:
    return {p.stem for p in (report / "figures").glob("*.png")}


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The shipped demo config, made smaller (1 instance per cell, SII on 2 with C = 4), run and reported through the CLI."""
    directory = tmp_path_factory.mktemp("demo")
    data = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    data["output_dir"] = str(directory / "run")
    data["datasets"][0]["options"]["per_cell"] = 1
    data["metrics"]["sii_limit"] = 2
    data["metrics"]["background_players"] = 4  # the SII ground truth costs ~2^C per pair: most of this fixture's time
    data["metrics"]["probe_limit"] = 2
    data["execution"]["progress"] = False
    run(parse_config(data))
    assert main(["report", str(directory / "run")]) == 0
    return directory / "run" / "report"


def summary_values(page: str) -> dict[str, str]:
    return dict(re.findall(r'<b data-summary="([a-z_]+)">([^<]*)</b>', page))


class _Quotes(HTMLParser):
    """Every ``<b data-quote=…>`` of a page (or a browser's DOM): its attributes and the text it shows."""

    def __init__(self) -> None:
        super().__init__()
        self.quotes, self._open = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "b" and "data-quote" in attrs:
            self._open = attrs | {"shown": ""}

    def handle_data(self, data):
        if self._open is not None:
            self._open["shown"] += data

    def handle_endtag(self, tag):
        if tag == "b" and self._open is not None:
            self.quotes.append(self._open)
            self._open = None


def quoted_numbers(page: str) -> list[dict]:
    parser = _Quotes()
    parser.feed(page)
    return parser.quotes


def csv_cell(tables: Path, table: str, row: dict, column: str):
    """The one cell of ``tables/<table>.csv`` on the line whose key columns equal ``row``."""
    frame = pd.read_csv(tables / f"{table}.csv")
    for key, value in row.items():
        frame = frame[frame[key].astype(str) == str(value)]
    assert len(frame) == 1, f"{table}.csv: {len(frame)} lines match {row}"
    value = frame.iloc[0][column]
    return None if pd.isna(value) else value


def assert_quotes_equal_their_csv(page: str, tables: Path) -> int:
    """Every number a summary sentence quotes equals its CSV cell, formatted as the sentence says; returns how many."""
    quotes = quoted_numbers(page)
    for quote in quotes:
        value = csv_cell(tables, quote["data-table"], json.loads(quote["data-row"]), quote["data-column"])
        assert quote["shown"] == format_value(value, quote["data-spec"]), quote
    return len(quotes)


def test_report_has_every_section_figure_and_table(demo_report):
    page = (demo_report / "index.html").read_text()
    names = figure_names(demo_report)
    assert {n for n in names if not n.startswith("qualitative_")} == FIGURES and any(n.startswith("qualitative_") for n in names)
    assert page.count('src="data:image/png;base64,') == len(names)
    assert "http://" not in page and "https://" not in page  # self-contained
    for anchor in ("leaderboard", "mixed-model", "ranking-instability", "validation", "redundancy", "probes", "pareto", "qualitative", "failures"):
        assert f'<section id="{anchor}">' in page
    for table in ("leaderboard_by_dataset", "mixed_model", "rank_agreement", "fsyn_sii_agreement", "metric_cost", "redundancy", "probes", "pareto"):
        assert (demo_report / "tables" / f"{table}.csv").is_file()
        assert f'href="tables/{table}.csv"' in page
    assert "fitted as a fixed effect" in page or "one level" in page  # how random effects were fitted is stated


def test_summary_numbers_equal_the_tables(demo_report):
    summary = summary_values((demo_report / "index.html").read_text())
    summary |= {k: v for k, v in json.loads((demo_report / "summary.json").read_text()).items() if isinstance(v, str)}
    tables = demo_report / "tables"
    board = pd.read_csv(tables / "leaderboard_by_dataset.csv", index_col=0)
    assert summary["best_mean_explainer"] == board.index[0]
    assert summary["best_mean_fsyn"] == f"{board['all_mean'].iloc[0]:.3f}"
    assert (board["all_ci_low"] <= board["all_mean"]).all() and (board["all_mean"] <= board["all_ci_high"]).all()  # numbers, not text
    agreement = pd.read_csv(tables / "rank_agreement.csv").query("scope == 'all'").set_index("criterion")
    for criterion in ("deletion", "insertion", "srg"):
        assert summary[f"tau_{criterion}"] == f"{agreement.loc[criterion, 'kendall_tau']:.2f}"
    validation = pd.read_csv(tables / "fsyn_sii_agreement.csv").set_index("scope").loc["all"]
    assert summary["fsyn_sii_spearman"] == f"{validation['spearman']:.2f}"
    assert summary["fsyn_sii_pairs"] == str(int(validation["pairs"]))
    cost = pd.read_csv(tables / "metric_cost.csv", index_col=0)
    assert summary["sii_cost_ratio"] == f"{cost.loc['SII ground truth', 'evaluations vs F_syn']:.1f}"
    model = pd.read_csv(tables / "mixed_model.csv")
    assert summary["lmm_best"] == model.explainer.iloc[0] and summary["lmm_best_coefficient"] == f"{model.coefficient.iloc[0]:.3f}"
    rows = RunStore(demo_report.parent).read_rows()
    assert summary["failure_rows"] == str(int((rows.status == "failed").sum()))


def test_report_opens_in_headless_chromium(demo_report):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium on this machine (`make test` installs it with apt where it runs as root)")
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=5000",
         "--enable-logging=stderr", "--v=0", "--dump-dom", (demo_report / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    match = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert match, "the page's load check did not run"
    assert match.group(1) == match.group(2) == str(len(figure_names(demo_report))), "an embedded figure did not decode"
    assert 'data-errors="0"' in dom
    assert "Uncaught" not in result.stderr
    # what the browser shows: every number quoted in a summary sentence equals its CSV cell
    sentences = json.loads((demo_report / "summary.json").read_text())["sentences"]
    assert assert_quotes_equal_their_csv(dom, demo_report / "tables") >= sum(len(s["numbers"]) for s in sentences) > 10


def test_every_number_a_sentence_quotes_equals_its_csv(demo_report):
    page = (demo_report / "index.html").read_text()
    count = assert_quotes_equal_their_csv(page, demo_report / "tables")
    sentences = json.loads((demo_report / "summary.json").read_text())["sentences"]
    assert {s["key"] for s in sentences} >= {"headline", "redundant", "pooled", "tau_deletion", "tau_insertion", "tau_srg", "fsyn_sii"}
    listed = {(n["name"], n["shown"], n["table"], n["column"]) for s in sentences for n in s["numbers"]}
    assert listed == {(q["data-quote"], q["shown"], q["data-table"], q["data-column"]) for q in quoted_numbers(page)}
    assert count >= len(listed) > 10  # the redundant stratum's sentence is also under its table
    for sentence in sentences:  # the text summary.json records is the text the page shows, number for number
        for number in sentence["numbers"]:
            assert number["shown"] in sentence["text"]
            assert format_value(csv_cell(demo_report / "tables", number["table"], number["row"], number["column"]), number["spec"]) == number["shown"]


def test_the_headline_is_the_synergistic_stratum_and_says_how_many_instances(demo_report):
    summary = json.loads((demo_report / "summary.json").read_text())
    headline, tables = summary["headline"], demo_report / "tables"
    counts = pd.read_csv(tables / "strata_counts.csv").set_index("stratum")
    assert headline["stratum"] == "synergistic" and headline["rule"] == "Δ > 0.05" and headline["threshold"] == 0.05
    assert headline["n_instances"] == counts.loc["synergistic", "instances"] and headline["all_instances"] == counts.loc["all", "instances"]
    assert counts.loc[["synergistic", "redundant", "neutral", "unknown"], "instances"].sum() == counts.loc["all", "instances"]
    board = pd.read_csv(tables / "strata_leaderboard.csv")
    synergy = board[board.stratum == "synergistic"]
    # explainers are compared on the instances every one of them completed (paired), where the stratum has any
    compared = "paired_mean" if headline["basis"] == "paired" else "mean"
    assert headline["leader"] == synergy.loc[synergy[compared].idxmax(), "explainer"] == synergy.set_index("position").loc[1, "explainer"]
    assert headline["leader_mean"] == pytest.approx(synergy[compared].max())
    if headline["basis"] == "paired":
        assert headline["paired_instances"] == synergy["paired_n"].max() <= headline["n_instances"]
    assert headline["small_sample"] == ((headline["paired_instances"] if compared == "paired_mean" else headline["n_instances"]) < 10)
    # the Δ rule, recomputed from the rows: each instance's stratum follows its own modality dividend
    rows = RunStore(demo_report.parent).read_rows()
    delta = rows[rows.status == "ok"].drop_duplicates("instance_id").set_index("instance_id")["modality_dividend"]
    assert counts.loc["synergistic", "instances"] == (delta > 0.05).sum() and counts.loc["redundant", "instances"] == (delta < -0.05).sum()
    redundant = board[board.stratum == "redundant"]
    sentence = next(s for s in summary["sentences"] if s["key"] == "redundant")
    negative = next(n for n in sentence["numbers"] if n["name"] == "negative")
    assert int(negative["shown"]) == (redundant["mean"] < 0).sum()
    if (redundant["mean"] < 0).any():
        assert "F_syn rewards finding synergy, not redundancy" in sentence["text"]
        assert "F_syn rewards finding synergy, not redundancy" in (demo_report / "index.html").read_text()
    page = (demo_report / "index.html").read_text()
    assert '<section id="strata">' in page and "<b>Headline.</b>" in page


def test_the_readme_quotes_the_demo_numbers_generated_from_a_summary(demo_report):
    readme = (ROOT / "README.md").read_text()
    stored = json.loads((ROOT / "docs" / "demo-summary.json").read_text())
    assert stored["headline"]["stratum"] == "synergistic" and stored["headline"]["all_instances"] == 54  # the demo's 54 instances
    assert current_block(readme) == demo_numbers(stored), "README demo numbers drifted: run `python benchmarks/readme_numbers.py` after `make demo`"
    for sentence in stored["sentences"]:
        assert all(n["shown"] in sentence["text"] for n in sentence["numbers"]) and sentence["text"] in readme
    # the same generator on this run's summary: every sentence of it lands in the block, and the block replaces cleanly
    small = json.loads((demo_report / "summary.json").read_text())
    block = demo_numbers(small)
    assert all(s["text"] in block for s in small["sentences"])
    assert current_block(replace_block(readme, block)) == block and replace_block(replace_block(readme, block), demo_numbers(stored)) == readme
    with pytest.raises(ValueError, match="no demo-numbers block"):
        replace_block("# a README without markers", block)


def test_report_command_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "holds no result rows" in capsys.readouterr().err
