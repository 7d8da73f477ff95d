"""The F_syn numbers the README quotes (AND / OR / XOR / additive, the range) are recomputed here.

The README's "What F_syn measures" section states F_syn's range and sign with a table of
`synfaith demo`'s three rankings on the analytic games; the "`synfaith demo`" excerpt further
down repeats two of its rows. Every number is parsed out of the README text and compared with
the metric's value, so the prose cannot drift from the code.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from synfaith.demo import analytic_demo
from synfaith.games import FunctionGame, XorGame
from synfaith.metrics import synergistic_faithfulness

README = Path(__file__).resolve().parents[1] / "README.md"
SHOWN = 5e-4  # the README shows three decimals
GAMES = {"AND (synergy)": 1.0, "OR (redundancy)": -1.0, "XOR": -2.0, "additive": 0.0}  # dividend of {i*, j*}


def _number(text: str) -> float:
    return float(text.strip().replace("−", "-").replace("+", ""))


def _section(title: str) -> str:
    readme = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", readme, re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def _quoted_table() -> dict[str, dict[str, float]]:
    """The README's table: game → {dividend, oracle, random, reversed}."""
    rows = {}
    for line in _section("What F_syn measures").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in GAMES:
            rows[cells[0]] = dict(zip(("dividend", "oracle", "random", "reversed"), map(_number, cells[2:])))
    assert set(rows) == set(GAMES), f"the README's F_syn table has rows {sorted(rows)}, expected {sorted(GAMES)}"
    return rows


def _demo_settings() -> tuple[int, int, int, int]:
    text = " ".join(_section("What F_syn measures").split())
    match = re.search(r"\((\d+) image units, (\d+) text units, K = (\d+), seed (\d+);", text)
    assert match, "the README no longer states the demo settings of its F_syn table"
    return tuple(int(group) for group in match.groups())


@pytest.fixture(scope="module")
def demo_rows():
    n_image, n_text, steps, seed = _demo_settings()
    assert (n_image, n_text, steps, seed) == (16, 6, 11, 0), "the table must show `synfaith demo`'s defaults"
    return {(row.game, row.ranking): row for row in analytic_demo(n_image, n_text, steps, seed)}


def test_table_matches_the_demo_and_the_closed_forms(demo_rows):
    steps = _demo_settings()[2]
    for game, quoted in _quoted_table().items():
        assert quoted["dividend"] == GAMES[game], f"{game}: the README's dividend column is wrong"
        for ranking in ("oracle", "random", "reversed"):
            computed = demo_rows[(game, ranking)].fsyn
            assert quoted[ranking] == pytest.approx(computed, abs=SHOWN), f"{game} / {ranking}: README {quoted[ranking]}, F_syn {computed:.4f}"
        # every step but t = 0 holds both critical units for the oracle; only t = 1 for the reversed ranking
        assert demo_rows[(game, "oracle")].fsyn == pytest.approx(GAMES[game] * (steps - 1) / steps)
        assert demo_rows[(game, "reversed")].fsyn == pytest.approx(GAMES[game] / steps)
    assert demo_rows[("AND (synergy)", "oracle")].fsyn == pytest.approx(10 / 11)
    assert demo_rows[("XOR", "oracle")].fsyn == pytest.approx(-20 / 11)  # the −1.818 that reaches the range's floor


def test_sign_paragraph_and_range_quote_the_computed_values(demo_rows):
    text = " ".join(_section("What F_syn measures").split())
    beats = re.search(r"reversed ranking \(([−\-\d.]+)\) \"beats\" the oracle \(([−\-\d.]+)\)", text)
    assert beats, "the README no longer quotes the OR reversed-vs-oracle values"
    reversed_or, oracle_or = map(_number, beats.groups())
    assert reversed_or == pytest.approx(demo_rows[("OR (redundancy)", "reversed")].fsyn, abs=SHOWN)
    assert oracle_or == pytest.approx(demo_rows[("OR (redundancy)", "oracle")].fsyn, abs=SHOWN)
    assert reversed_or > oracle_or  # the point of the paragraph: on redundancy, finding the pair scores lower

    assert "F_syn ∈ [−2, 2]" in text
    bound = re.search(r"\|F_syn\| ≤ 2\(K−1\)/K = ([\d.]+) at the default K = (\d+)", text)
    perfect_and = re.search(r"\(AND\) gets \(K−1\)/K = ([\d.]+)", text)
    floor = re.search(r"the oracle on XOR gets ([−\-\d.]+), on XNOR .*? ([+−\-][\d.]+)\.", text)
    assert bound and perfect_and and floor, "the README's range paragraph changed; update this test with it"
    steps = int(bound.group(2))
    assert _number(bound.group(1)) == pytest.approx(2 * (steps - 1) / steps, abs=SHOWN)
    assert _number(perfect_and.group(1)) == pytest.approx(demo_rows[("AND (synergy)", "oracle")].fsyn, abs=SHOWN)

    n_image, n_text = 16, 6
    image_scores, text_scores = np.eye(n_image)[5], np.eye(n_text)[3]  # the oracle: i* = 5, j* = 3 first
    xor = synergistic_faithfulness(XorGame(n_image, n_text, 5, 3), image_scores, text_scores, steps)
    xnor_game = FunctionGame(lambda image, text: (image[:, 5] == text[:, 3]).astype(float), n_image, n_text)
    xnor = synergistic_faithfulness(xnor_game, image_scores, text_scores, steps)
    assert _number(floor.group(1)) == pytest.approx(xor.score, abs=SHOWN) == pytest.approx(-2 * (steps - 1) / steps)
    assert _number(floor.group(2)) == pytest.approx(xnor.score, abs=SHOWN) == pytest.approx(2 * (steps - 1) / steps)
    assert np.all(xnor.deletion_dividends[1:] == 2.0) and np.all(xnor.insertion_dividends[1:] == 2.0)


def test_the_stated_bound_holds_on_random_probability_games():
    """|S(t)| ≤ 2 for v ∈ [0, 1], S(t_0) = 0, hence |F_syn| ≤ 2(K−1)/K — on seeded random games."""
    n_image, n_text, steps = 4, 3, 11
    powers = 2 ** np.arange(n_image + n_text)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        # an extreme-valued probability table (0 or 1 per coalition) pushes dividends towards the bounds
        table = rng.integers(0, 2, size=2 ** (n_image + n_text)).astype(float)
        game = FunctionGame(lambda image, text, table=table: table[np.concatenate([image, text], 1) @ powers], n_image, n_text)
        result = synergistic_faithfulness(game, rng.normal(size=n_image), rng.normal(size=n_text), steps)
        dividends = np.concatenate([result.deletion_dividends, result.insertion_dividends])
        assert np.all(np.abs(dividends) <= 2.0) and result.deletion_dividends[0] == result.insertion_dividends[0] == 0.0
        assert abs(result.score) <= 2 * (steps - 1) / steps


def test_demo_excerpt_rows_match(demo_rows):
    block = re.search(r"`synfaith demo` \(the quick self-check.*?```\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block, "the README's `synfaith demo` excerpt is missing"
    header, *lines = block.group(1).strip().splitlines()
    columns = header.split()[2:]
    assert columns == ["Del_V", "Ins_V", "SRG_V", "SRG_T", "F_syn", "SII"]
    fields = {"Del_V": "visual_deletion", "Ins_V": "visual_insertion", "SRG_V": "visual_srg", "SRG_T": "textual_srg", "F_syn": "fsyn", "SII": "sii"}
    assert lines, "the excerpt shows no rows"
    for line in lines:
        game = next(name for name in GAMES if line.startswith(name))
        ranking, *values = line[len(game):].split()
        row = demo_rows[(game, ranking)]
        for column, value in zip(columns, values):
            assert float(value) == pytest.approx(getattr(row, fields[column]), abs=SHOWN), f"{game} / {ranking} / {column}"
