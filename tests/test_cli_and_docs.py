import re
import subprocess
import sys
from pathlib import Path

import pytest

from synfaith import __version__
from synfaith.cli import main
from synfaith.demo import analytic_demo

ROOT = Path(__file__).resolve().parents[1]


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"synfaith {__version__}"
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "synfaith.cli", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout


def test_demo_shows_the_redundancy_paradox(capsys):
    assert main(["demo", "--image-units", "8", "--text-units", "4", "--toy-instances", "0"]) == 0
    assert "OR (redundancy)" in capsys.readouterr().out
    rows = {(r.game, r.ranking): r for r in analytic_demo(n_image=8, n_text=4)}
    for ranking in ("oracle", "random", "reversed"):
        row = rows[("OR (redundancy)", ranking)]
        assert (row.visual_deletion, row.visual_insertion) == (1.0, 1.0)
    assert rows[("AND (synergy)", "oracle")].fsyn == pytest.approx(10 / 11)
    # reversed: i* is ranked last of 8, in the top set from ⌈9·8/10⌉ = 8 on, i.e. for k = 9, 10
    assert rows[("AND (synergy)", "reversed")].fsyn == pytest.approx(2 / 11)
    assert rows[("OR (redundancy)", "oracle")].fsyn < 0


def test_readme_python_example_runs(capsys):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Ten lines of Python\s+```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    exec(compile(code, "README.md", "exec"), {})
    first_line = capsys.readouterr().out.splitlines()[0]
    assert float(first_line.split()[0]) == pytest.approx(10 / 11)


def test_explainers_list_and_table_commands(capsys, tmp_path):
    from synfaith.explainers import EXPLAINERS

    assert main(["explainers", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in lines[1:]]
    assert listed == sorted(EXPLAINERS) and "requires" in lines[0]
    assert any(line.split()[:2] == ["multishap", "game"] for line in lines)
    out = tmp_path / "table.md"
    assert main(["explainers", "table", "--per-cell", "2", "--explainers", "oracle,random,rollout", "--out", str(out)]) == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| explainer")]
    assert [row.split("|")[1].strip() for row in rows] == ["oracle", "random", "rollout"]
    oracle = rows[0].split("|")
    assert oracle[4].strip() == "1.00" and oracle[5].strip() == "1.00"  # the Oracle always points at the evidence
    assert "synfaith explainers table --subset synergy --per-cell 2" in text


def test_docs_explainer_table_is_the_commands_output():
    table = (ROOT / "docs" / "explainers-on-the-toy-vlm.md").read_text()
    assert table.startswith("Produced by `synfaith explainers table")
    documented = (ROOT / "docs" / "explainers.md").read_text()
    from synfaith.explainers import EXPLAINERS

    for name in EXPLAINERS:
        assert f"`{name}`" in documented, f"docs/explainers.md does not describe {name}"
        # precomputed scores the user's own files; fsyn_search is the headroom bound, not in the default table
        if name not in ("reverse_oracle", "precomputed", "fsyn_search"):
            assert f"| {name} |" in table, f"the toy-VLM table has no row for {name}"


def test_readme_extending_section_runs_as_written(tmp_path):
    """The README's explainer and metric blocks, executed, then used by a config, a run and the report."""
    from synfaith.explainers import EXPLAINERS
    from synfaith.metrics import METRICS
    from synfaith.report import write_report
    from synfaith.runs import ConfigError, RunStore, parse_config, run

    readme = (ROOT / "README.md").read_text()
    blocks = [re.search(rf"# {name}\.py.*?```", readme, re.S).group(0).rstrip("`") for name in ("my_explainer", "my_metric")]
    try:
        for block in blocks:
            exec(block, {})
        config = {
            "output_dir": str(tmp_path / "run"),
            "models": [{"path": "toy", "device": "cpu"}],
            "datasets": [{"kind": "synthetic", "limit": 2, "options": {"per_cell": 1}}],
            "explainers": [{"name": "edge_saliency", "options": {"power": 2.0}}],
            "metrics": {"compute": ["text_only_share", "fsyn"]},
            "execution": {"progress": False},
        }
        with pytest.raises(ConfigError, match="option 'power'"):
            parse_config(config | {"explainers": [{"name": "edge_saliency", "options": {"power": "high"}}]})
        assert run(parse_config(config)).failures == 0
        rows = RunStore(tmp_path / "run").read_rows()
        assert rows.text_only_share.notna().all() and (rows.text_only_share >= 0).all() and rows.fsyn.notna().all()
        assert (rows.text_only_share_coalitions == 2).all()
        page = write_report(tmp_path / "run").read_text()
        assert "text-only share" in page and "edge_saliency" in page
    finally:
        EXPLAINERS.unregister("edge_saliency")
        METRICS.unregister("text_only_share")
