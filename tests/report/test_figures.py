"""The report's figures: every embedded image decodes, the chosen instances are drawn (one per stratum by
default, or the ones named by --examples / report.examples), MultiSHAP's interaction matrix is stored
per unit pair, explainers keep distinct colours, rank axes have whole-number ticks, heatmap text reads."""

import base64
import io
import itertools
import re

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from synfaith.analysis.rank_agreement import mean_rank_heatmap, rank_table
from synfaith.analysis.strata import instance_strata
from synfaith.cli import main
from synfaith.explainers.registry import EXPLAINERS
from synfaith.report import figures
from synfaith.report.examples import choose_examples, resolve_examples
from synfaith.report.figure_data import dividend_curves, stratum_means, with_strata
from synfaith.runs import RunStore, parse_config, run

EXPLAINER_SET = ["random", "oracle", "input_gradients", "multishap"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """The toy model on one instance per (family, subset) of the synthetic world (9), four explainers, cheap metrics."""
    directory = tmp_path_factory.mktemp("figures") / "run"
    config = {
        "output_dir": str(directory),
        "models": [{"path": "toy", "name": "toy", "device": "cpu"}],
        "datasets": [{"kind": "synthetic", "options": {"per_cell": 1}}],
        "explainers": [{"name": n} for n in EXPLAINER_SET[:-1]]
        + [{"name": "multishap", "options": {"budget": 256, "max_visual_players": 4, "max_text_players": 4}}],
        "metrics": {"compute": ["redundancy", "unimodal", "fsyn"], "steps": 5},
        "execution": {"progress": False},
    }
    run(parse_config(config))
    return directory


@pytest.fixture(scope="module")
def default_report(small_run):
    assert main(["report", str(small_run)]) == 0
    return small_run / "report"


def embedded_images(page: str) -> list[tuple[str, Image.Image]]:
    """Every <img> of the page: (its alt text, the decoded PNG)."""
    images = []
    for alt, data in re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', page):
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()  # decodes every pixel: a truncated or corrupt PNG raises here
        images.append((alt, image))
    return images


def qualitative_ids(report) -> set[str]:
    return {p.stem.removeprefix("qualitative_") for p in (report / "figures").glob("qualitative_*.png")}


def test_every_image_of_the_page_decodes(default_report):
    page = (default_report / "index.html").read_text()
    images = embedded_images(page)
    assert len(images) == page.count("<img ") == len(list((default_report / "figures").glob("*.png")))
    for path in (default_report / "figures").glob("*.png"):
        with Image.open(path) as image:
            image.load()
            assert image.format == "PNG" and min(image.size) > 100
    names = {p.stem for p in (default_report / "figures").glob("*.png")}
    assert {"fsyn_deletion_curves", "fsyn_insertion_curves", "fsyn_by_stratum", "fsyn_vs_delta", "multishap_interactions"} <= names
    for alt, image in images:
        if alt.startswith("test-"):  # a qualitative figure: 5 panels in 4 columns, each readable
            assert image.size[0] >= 1000, (alt, image.size)


def test_the_default_draws_one_instance_per_stratum(small_run, default_report):
    rows = RunStore(small_run).read_rows()
    strata = instance_strata(rows)
    drawn = qualitative_ids(default_report)
    drawn_strata = strata.set_index("instance_id").loc[sorted(drawn), "stratum"]
    assert sorted(drawn_strata) == sorted(set(strata["stratum"]) - {"unknown"})  # each stratum present, once
    for stratum, instance_id in zip(drawn_strata, drawn_strata.index):
        delta = strata[strata["stratum"] == stratum]["modality_dividend"]
        nearest = (delta - delta.median()).abs().min()
        assert abs(strata.set_index("instance_id").loc[instance_id, "modality_dividend"] - delta.median()) == nearest
    page = (default_report / "index.html").read_text()
    for instance_id in drawn:
        assert f"{instance_id} (toy, synthetic)" in page


def test_examples_flag_and_config_choose_the_instances(small_run, tmp_path, capsys):
    wanted = ["test-counting-synergy-00000", "test-relation-redundant-00000"]
    assert main(["report", str(small_run), "--out", str(tmp_path / "flag"), "--examples", ",".join(wanted)]) == 0
    assert qualitative_ids(tmp_path / "flag") == set(wanted)
    page = (tmp_path / "flag" / "index.html").read_text()
    assert all(f"{w} (toy, synthetic)" in page for w in wanted)
    assert len(embedded_images(page)) == len(list((tmp_path / "flag" / "figures").glob("*.png")))

    # the run config's report.examples, when no flag is given (the flag wins)
    rows = RunStore(small_run).read_rows()
    config = RunStore(small_run).config() | {"report": {"examples": [wanted[1]]}}
    assert [e.instance_id for e in resolve_examples(rows, None, config)[0]] == [wanted[1]]
    assert [e.instance_id for e in resolve_examples(rows, wanted[0], config)[0]] == [wanted[0]]
    assert parse_config(config).report.examples == [wanted[1]]
    with pytest.raises(ValueError, match="report.examples in the run's config.yaml: no instance 'gone'"):
        resolve_examples(rows, None, config | {"report": {"examples": ["gone"]}})

    assert main(["report", str(small_run), "--out", str(tmp_path / "bad"), "--examples", "no-such-instance"]) == 2
    error = capsys.readouterr().err.strip()
    assert "--examples: no instance 'no-such-instance' in this run" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "bad" / "index.html").exists()


def test_multishap_stores_its_unit_interaction_matrix(small_run):
    rows = RunStore(small_run).read_rows()
    multishap = rows[(rows["explainer"] == "multishap") & (rows["status"] == "ok")]
    assert len(multishap) == 9
    for _, row in multishap.iterrows():
        matrix = np.asarray(row["interaction_matrix"]).reshape(row["n_image_units"], row["n_text_units"])
        assert matrix.shape == (16, row["n_text_units"]) and np.abs(matrix).sum() > 0
        # aggregate="abs": a unit's score is Σ over the other modality of |Φ| spread over the unit pairs
        np.testing.assert_allclose(np.abs(matrix).sum(1), row["image_scores"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.abs(matrix).sum(0), row["text_scores"], rtol=1e-9, atol=1e-12)
    assert rows.loc[rows["explainer"] != "multishap", "interaction_matrix"].isna().all()


def _lab(colour) -> np.ndarray:
    """CIELAB (D65) of an sRGB colour."""
    rgb = np.array([c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)])
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb / [0.95047, 1.0, 1.08883]
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_every_explainer_has_its_own_colour_on_every_figure(small_run):
    names = [*EXPLAINERS, "fsyn_search", "precomputed", "ig_black"]
    colours = figures.explainer_colours(names)
    distance = min(np.linalg.norm(_lab(a) - _lab(b)) for a, b in itertools.combinations(colours.values(), 2))
    assert distance > 20  # CIE ΔE*ab: clearly different hues/lightness (attnlrp and tam used to share one)
    assert colours["attnlrp"] != colours["tam"] and figures.explainer_colours(["tam"])["tam"] == colours["tam"]

    rows = RunStore(small_run).read_rows()
    fig = figures.rank_shift(rank_table(rows))
    lines = {tuple(to_rgb(line.get_color())) for line in fig.axes[0].lines}
    assert len(lines) == len(EXPLAINER_SET)
    figures.plt.close(fig)


def test_rank_axes_have_whole_number_ticks_and_heatmap_text_reads(small_run):
    rows = RunStore(small_run).read_rows()
    fig = figures.rank_shift(rank_table(rows))
    assert list(fig.axes[0].get_yticks()) == [1, 2, 3, 4]
    figures.plt.close(fig)

    table = mean_rank_heatmap(rows)
    assert table.notna().all().all() and ((table >= 1) & (table <= len(EXPLAINER_SET))).all().all()
    # a mean of per-instance ranks: over the 4 explainers the ranks of an instance sum to 1 + 2 + 3 + 4
    np.testing.assert_allclose(table.sum(axis=0), 10.0)
    fig = figures.heatmap(table, "mean rank", integer_scale=True)
    fig.canvas.draw()
    heat, bar = fig.axes
    ticks = [t for t in bar.get_yticks() if bar.get_ylim()[0] <= t <= bar.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    image = heat.images[0]
    texts = heat.texts
    assert len(texts) == table.size
    for text, value in zip(texts, table.to_numpy().ravel()):
        assert figures.contrast_ratio(text.get_color(), image.cmap(image.norm(value))) >= 4.5  # WCAG AA
    figures.plt.close(fig)


def test_the_dividend_tables_hold_bootstrap_intervals_around_the_means(small_run):
    rows = with_strata(RunStore(small_run).read_rows())
    curves = dividend_curves(rows)
    assert set(curves["curve"]) == {"deletion", "insertion"} and sorted(set(curves["step"])) == [0, 1, 2, 3, 4]
    oracle = rows[(rows["explainer"] == "oracle") & (rows["status"] == "ok")]
    mean_curve = np.mean(np.stack(oracle["fsyn_deletion_curve"].to_numpy()), axis=0)
    got = curves.query("stratum == 'all' and explainer == 'oracle' and curve == 'deletion'").sort_values("step")
    np.testing.assert_allclose(got["mean"], mean_curve)
    spread = got[got["n"] > 1]
    assert (spread["ci_low"] <= spread["mean"] + 1e-12).all() and (spread["mean"] <= spread["ci_high"] + 1e-12).all()
    means = stratum_means(rows)
    for stratum, part in rows[rows["status"] == "ok"].groupby("stratum"):
        expected = part.groupby("explainer")["fsyn"].mean()
        got = means[means["stratum"] == stratum].set_index("explainer")["mean"]
        np.testing.assert_allclose(got.loc[expected.index], expected)


def test_choose_examples_refuses_an_instance_without_results(small_run):
    rows = RunStore(small_run).read_rows()
    failed = rows.copy()
    failed.loc[failed["instance_id"] == "test-counting-synergy-00000", "status"] = "failed"
    with pytest.raises(ValueError, match="'test-counting-synergy-00000' has no successful row with F_syn"):
        choose_examples(failed, ["test-counting-synergy-00000"])


def test_rows_without_a_stored_matrix_say_why_none_is_drawn(small_run, tmp_path):
    from synfaith.report.page import ReportBuilder
    from synfaith.report.qualitative import _interactions

    rows = RunStore(small_run).read_rows()
    examples = choose_examples(rows)
    builder = ReportBuilder(tmp_path)
    section = builder.section("q", "q")
    _interactions(builder, section, rows.assign(interaction_matrix=None), examples)
    assert builder.figures == [] and [s.what for s in builder.skipped] == ["interaction matrices of multishap"]
    _interactions(builder, section, rows, examples)
    assert builder.figures == ["multishap_interactions"]
