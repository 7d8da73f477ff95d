"""The report of a (small) demo run: files, figures, summary = tables, and a real browser."""

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from synfaith.cli import main
from synfaith.runs import RunStore, parse_config, run

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {"mixed_model", "rank_shift", "mean_rank_heatmap", "fsyn_vs_sii", "modality_dividend", "pareto", "qualitative"}


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


def test_report_has_every_section_figure_and_table(demo_report):
    page = (demo_report / "index.html").read_text()
    assert {p.stem for p in (demo_report / "figures").glob("*.png")} == FIGURES
    assert page.count('src="data:image/png;base64,') == len(FIGURES)
    assert "http://" not in page and "https://" not in page  # self-contained
    for anchor in ("leaderboard", "mixed-model", "ranking-instability", "validation", "redundancy", "probes", "pareto", "qualitative", "failures"):
        assert f'<section id="{anchor}">' in page
    for table in ("leaderboard_by_dataset", "mixed_model", "rank_agreement", "fsyn_sii_agreement", "metric_cost", "redundancy", "probes", "pareto"):
        assert (demo_report / "tables" / f"{table}.csv").is_file()
        assert f'href="tables/{table}.csv"' in page
    assert "fitted as a fixed effect" in page or "one level" in page  # how random effects were fitted is stated


def test_summary_numbers_equal_the_tables(demo_report):
    summary = summary_values((demo_report / "index.html").read_text())
    tables = demo_report / "tables"
    board = pd.read_csv(tables / "leaderboard_by_dataset.csv", index_col=0)
    assert summary["best_mean_explainer"] == board.index[0]
    assert summary["best_mean_fsyn"] == board["all"].iloc[0].split(" ")[0]
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
    assert match.group(1) == match.group(2) == str(len(FIGURES)), "an embedded figure did not decode"
    assert 'data-errors="0"' in dom
    assert "Uncaught" not in result.stderr


def test_report_command_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "holds no result rows" in capsys.readouterr().err
