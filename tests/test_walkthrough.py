"""docs/walkthrough.md runs as written, and so do the README's "Explain one example" and "From Python" sections.

The walkthrough's Python blocks run in order in one namespace in a fresh folder; a ``text``
block right after a Python block is the output that block must print.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from synfaith.cli import main

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(text: str) -> list[tuple[str, str | None]]:
    """``(python code, expected output or None)`` for every python block, in order."""
    fences = [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]
    found = []
    for i, (language, body) in enumerate(fences):
        if language == "python":
            following = fences[i + 1] if i + 1 < len(fences) else None
            found.append((body, following[1] if following and following[0] == "text" else None))
    return found


def section(text: str, heading: str) -> str:
    """The README section under ``## heading``, up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"README.md has no section '## {heading}'"
    return match.group(1)


def scene(path: Path) -> Path:
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).ellipse((20, 20, 36, 36), fill="red")
    image.save(path)
    return path


def test_walkthrough_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "walkthrough"}
    code_blocks = blocks((ROOT / "docs" / "walkthrough.md").read_text(encoding="utf-8"))
    assert len(code_blocks) >= 8
    for number, (code, expected) in enumerate(code_blocks):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"docs/walkthrough.md block {number}", "exec"), namespace)
        if expected is not None:
            assert printed.getvalue().strip() == expected.strip(), f"block {number} printed something else"

    # what the blocks computed, checked beyond their printed lines
    explanation = namespace["explanation"]
    assert explanation.explainers == ["oracle", "random", "gradcam", "rollout"]
    for result in explanation.results:
        assert result.ok and result.fsyn == pytest.approx((result.fsyn_deletion + result.fsyn_insertion) / 2)
        assert result.fsyn_deletion == pytest.approx(np.mean(result.deletion_curve))
        assert result.image_scores.shape == (16,) and result.text_scores.shape == (len(explanation.tokens),)
    assert explanation.boxes == ((16, 16, 32, 32),) and explanation.deciding == {"green", "circle"}
    table = namespace["table"]
    assert table.loc["oracle", "fsyn"] == explanation["oracle"].fsyn
    assert (tmp_path / "explained" / "explain.png").stat().st_size > 0

    rows = namespace["rows"]
    assert len(rows) == 27 and rows["instance_id"].nunique() == 9 and (rows["status"] == "ok").all()
    summary = namespace["summary"]
    fsyn = summary[summary["metric"] == "fsyn"].set_index("explainer")
    assert fsyn["mean"].to_dict() == pytest.approx(rows.groupby("explainer")["fsyn"].mean().to_dict())
    assert (fsyn["n"] == 9).all()
    page = tmp_path / "runs" / "walkthrough" / "report" / "index.html"
    assert "gradcam" in page.read_text(encoding="utf-8")
    assert namespace["result"].score == pytest.approx(10 / 11)


def test_readme_explain_and_python_sections_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    scene(tmp_path / "scene.png")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    shell = re.search(r"```bash\n(.*?)```", section(readme, "Explain one example"), re.S).group(1).replace("\\\n", " ")
    commands = [line for line in shell.splitlines() if line.startswith("synfaith ")]
    assert commands, "the README's explain section shows no synfaith command"
    for line in commands:
        assert main(shlex.split(line, comments=True)[1:]) == 0, line
    assert len(commands) == 2
    for folder, question in (("explained", "Is there a red circle?"), ("explained-mc", "How many red shapes are there?")):
        data = json.loads((tmp_path / folder / "explain.json").read_text())
        assert data["question"] == question and data["explainers"]
        assert all(entry["status"] == "ok" and entry["fsyn"] is not None for entry in data["explainers"].values())
        assert Image.open(tmp_path / folder / "explain.png").size[0] > 0
    assert data["choices"] == ["0", "1", "2", "3"] and data["answer"] in "ABCD"
    assert list(data["explainers"]) == ["random", "gradcam", "multishap"]
    capsys.readouterr()

    ((code, _),) = blocks(section(readme, "From Python"))
    namespace: dict = {}
    exec(compile(code, "README.md (From Python)", "exec"), namespace)
    explanation, evaluation = namespace["explanation"], namespace["evaluation"]
    assert explanation.explainers == ["random", "gradcam", "multishap"]
    assert float(capsys.readouterr().out.splitlines()[0]) == pytest.approx(explanation["gradcam"].fsyn)
    assert len(evaluation.rows) == 8 and (tmp_path / "runs" / "py" / "report" / "index.html").is_file()
