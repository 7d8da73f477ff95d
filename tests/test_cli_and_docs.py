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
