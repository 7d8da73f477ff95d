"""Bring your own attributions: the `precomputed` explainer, its file format, pooling and failure rows.

The round trip is the anchor: the Oracle's evidence written out as image-resolution masks
(boxes = 1) and word scores, read back by `precomputed`, gives the Oracle's scores and F_syn
exactly — through the pipeline, the Python run API and `synfaith run`.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr

from synfaith.cli import main
from synfaith.data import Box, GroundTruth, Instance
from synfaith.data.synthetic import synthetic_instances
from synfaith.explainers import AttributionError, Oracle, get_explainer
from synfaith.explainers.precomputed import (
    PrecomputedMapError,
    attribution_file_stem,
    attribution_files,
    save_attribution,
    text_unit_scores,
)
from synfaith.models import load_model
from synfaith.models.remote import RemoteChatAdapter
from synfaith.runs import RunStore, parse_config, run
from synfaith.runs.pipeline import MetricPlan, score_instance
from synfaith.testing import check_explainer
from tests.conftest import random_image


@pytest.fixture(scope="module")
def toy():
    return load_model("toy")


@pytest.fixture(scope="module")
def planted():
    """Synthetic test instances, 1 per (family, subset): 9, of which the ones with evidence boxes are planted."""
    return synthetic_instances(1, split="test")


def box_mask(instance) -> np.ndarray:
    """The instance's evidence boxes as an image-resolution 0/1 map (height × width)."""
    image = instance.load_image()
    mask = np.zeros((image.height, image.width))
    for box in instance.ground_truth.boxes:
        mask[int(box.top) : int(box.bottom), int(box.left) : int(box.right)] = 1.0
    return mask


def write_oracle_evidence(directory: Path, instances) -> None:
    """What a user with the planted truth would write: the box mask and deciding words = 1."""
    for instance in instances:
        save_attribution(directory, instance.id, box_mask(instance), {word: 1.0 for word in instance.ground_truth.words})


# -- file names --------------------------------------------------------------------------------
def test_file_stem_is_the_percent_encoded_id_and_never_leaves_the_directory(tmp_path):
    assert attribution_file_stem("test-existence-synergy-00001") == "test-existence-synergy-00001"
    assert attribution_file_stem("coco/val 1") == "coco%2Fval%201"
    assert attribution_file_stem("a%2Fb") == "a%252Fb"  # '%' itself is encoded: the rule is one-to-one
    assert attribution_file_stem("C:\\x") == "C%3A%5Cx"
    for hostile in ("../secret", "../../etc/passwd", "/abs/path", "..", "a/../../b"):
        map_file, text_file = attribution_files(tmp_path, hostile)
        assert map_file.parent == tmp_path and text_file.parent == tmp_path, hostile
        assert "/" not in map_file.name and map_file.name.endswith(".npy") and text_file.name.endswith(".text.json")
    with pytest.raises(PrecomputedMapError, match="cannot name an attribution file"):
        attribution_file_stem("")


def test_a_map_outside_the_directory_is_never_read(toy, tmp_path):
    inside = tmp_path / "maps"
    inside.mkdir()
    instance = Instance("../secret", random_image(64, 64), "Is there a red circle?", answer="yes")
    np.save(tmp_path / "secret.npy", np.eye(64))  # where a naive join of the id would land
    prepared = toy.prepare(instance)
    with pytest.raises(PrecomputedMapError, match=r"maps/\.\.%2Fsecret\.npy does not exist"):
        get_explainer("precomputed", path=str(inside)).explain(toy, prepared, None)


# -- pooling through the model's own geometry ---------------------------------------------------
def test_a_box_mask_pools_to_exactly_the_ground_truth_coverage_on_every_model(toy, adapters, yes_no_instance):
    """Toy (no resampling) and the three twins (resize, crop, patches, tiles + thumbnail) alike."""
    mask = box_mask(yes_no_instance)
    for name, model in [("toy", toy), *adapters.items()]:
        prepared = model.prepare(yes_no_instance)
        coverage, _ = model.ground_truth_units(prepared)
        pooled = model.pool_pixel_map(prepared, mask)
        np.testing.assert_array_equal(pooled, coverage, err_msg=name)
        assert 0 < coverage.max() <= 1 and coverage.min() == 0, name


def test_a_real_valued_map_is_its_mean_over_each_unit_where_the_model_does_not_resample(toy):
    instance = Instance("map", random_image(64, 64), "Is there a red circle?")
    prepared = toy.prepare(instance)
    grid_means = lambda h: h.reshape(4, 16, 4, 16).mean(axis=(1, 3)).ravel()  # noqa: E731 - toy: 4×4 cells of 16 px
    rng = np.random.default_rng(0)
    few_values = rng.integers(-5, 40, (64, 64)).astype(float)  # ≤ 64 distinct values: exact
    np.testing.assert_allclose(toy.pool_pixel_map(prepared, few_values), grid_means(few_values), rtol=0, atol=1e-12)
    for continuous in (rng.random((64, 64)), rng.normal(size=(64, 64)) ** 3):  # 4096 distinct values: 64 Lloyd–Max bands
        pooled, exact = toy.pool_pixel_map(prepared, continuous), grid_means(continuous)
        assert np.abs(pooled - exact).max() < 0.05 * np.ptp(exact)
        assert spearmanr(pooled, exact)[0] > 0.98
        assert np.array_equal(np.argsort(-pooled)[:2], np.argsort(-exact)[:2])


def test_the_remote_adapter_pools_onto_its_grid(tmp_path):
    remote = RemoteChatAdapter("http://127.0.0.1:9", grid=(4, 4), text_units="words")  # prepare sends no request
    instance = Instance("remote/1", random_image(64, 48), "Is there a red circle?")
    prepared = remote.prepare(instance)
    heatmap = np.zeros((48, 64))
    heatmap[12:24, 32:48] = 2.0  # exactly cell (row 1, col 2) of the 4×4 grid of 12×16 px cells
    heatmap[0:12, 0:16] = 1.0  # cell (0, 0)
    pooled = remote.pool_pixel_map(prepared, heatmap)
    expected = np.zeros(16)
    expected[6], expected[0] = 2.0, 1.0
    np.testing.assert_array_equal(pooled, expected)
    save_attribution(tmp_path, instance.id, heatmap, {"RED": 3.0, "circle": 1.0})
    attribution = get_explainer("precomputed", path=str(tmp_path)).explain(remote, prepared, None)
    np.testing.assert_array_equal(attribution.image_scores, expected)
    assert attribution.text_scores.tolist() == [0.0, 0.0, 0.0, 3.0, 1.0]  # "circle?" is one word unit


# -- text scores -----------------------------------------------------------------------------------
def test_text_keys_match_whole_words_any_case_or_exact_tokens_and_a_unit_takes_the_max(toy):
    prepared = toy.prepare(Instance("t", random_image(64, 64), "Is there a green circle in the image?"))
    assert prepared.text_unit_strings() == ["Is", " there", " a", " green", " circle", " in", " the", " image", "?"]
    scores, unmatched = text_unit_scores(prepared, {"GREEN": 2.0, "green circle": 0.5, "Ġthe": -1.0, "?": 0.25, "circ": 9.0, "zebra": 1.0})
    # 'circ' is not a whole word nor a token; 'the' does not match inside 'there'
    assert scores.tolist() == [0.0, 0.0, 0.0, 2.0, 0.5, 0.0, -1.0, 0.0, 0.25]
    assert unmatched == ["circ", "zebra"]


# -- the round trip -----------------------------------------------------------------------------
def test_round_trip_the_oracles_evidence_gives_the_oracles_fsyn_on_every_planted_instance(toy, planted, tmp_path):
    planted_ones = [i for i in planted if i.ground_truth.boxes]
    assert len(planted_ones) >= 6
    write_oracle_evidence(tmp_path, planted)
    plan = MetricPlan.build(["fsyn", "unimodal"], {"steps": 11})
    explainers = {"oracle": Oracle(), "precomputed": get_explainer("precomputed", path=str(tmp_path))}
    compared = 0
    for index, instance in enumerate(planted):
        oracle, precomputed = score_instance(toy, instance, explainers=explainers, plan=plan, index=index)
        if not instance.ground_truth.boxes:
            # no evidence in the image: the Oracle's map is flat and so is the written mask — both fail
            assert oracle["status"] == precomputed["status"] == "failed"
            assert "is constant (every pixel is 0.0)" in precomputed["message"]
            continue
        assert oracle["status"] == precomputed["status"] == "ok", (oracle.get("message"), precomputed.get("message"))
        assert precomputed["image_scores"] == oracle["image_scores"] and precomputed["text_scores"] == oracle["text_scores"]
        for column in ("fsyn", "fsyn_deletion", "fsyn_insertion", "visual_srg", "textual_srg"):
            assert precomputed[column] == pytest.approx(oracle[column], abs=1e-12), (instance.id, column)
        assert precomputed["fsyn_evaluations"] == 0  # the same ranking: every coalition came from the Oracle's cache
        compared += 1
    assert compared == len(planted_ones)


def test_round_trip_through_the_python_run_api_and_the_report(planted, tmp_path):
    from synfaith.report import write_report

    maps = tmp_path / "maps"
    write_oracle_evidence(maps, planted[:3])
    config = parse_config({
        "output_dir": str(tmp_path / "run"),
        "models": [{"path": "toy", "name": "toy", "device": "cpu"}],
        "datasets": [{"kind": "synthetic", "limit": 3, "options": {"per_cell": 1, "split": "test", "families": ["existence"]}}],
        "explainers": [{"name": "oracle"}, {"name": "precomputed", "label": "mine", "options": {"path": str(maps)}}],
        "metrics": {"compute": ["fsyn"], "steps": 5},
        "execution": {"progress": False},
    })
    summary = run(config)
    rows = RunStore(tmp_path / "run").read_rows()
    assert summary.rows_written == 6
    by = rows.pivot(index="instance_id", columns="explainer", values="fsyn")
    assert sorted(by.index) == sorted(i.id for i in planted[:3])
    np.testing.assert_array_equal(by["mine"].to_numpy(), by["oracle"].to_numpy())
    page = write_report(tmp_path / "run").read_text(encoding="utf-8")
    assert "mine" in page
    board = pd.read_csv(tmp_path / "run" / "report" / "tables" / "leaderboard_by_dataset.csv").set_index("explainer")
    assert board.loc["mine"].tolist() == board.loc["oracle"].tolist()  # the report's leaderboard: the same F_syn


def test_round_trip_through_synfaith_run_with_a_config_and_flags(planted, tmp_path, capsys):
    maps = tmp_path / "maps"
    counting = synthetic_instances(1, split="test", families=("counting",))  # 3 instances, each with evidence boxes
    write_oracle_evidence(maps, counting[:2])
    config = tmp_path / "explainers.yaml"
    config.write_text(yaml.safe_dump({
        "datasets": [{"kind": "synthetic", "options": {"per_cell": 1, "families": ["counting"]}}],
        "explainers": [{"name": "oracle"}, {"name": "precomputed", "options": {"path": str(maps)}}],
        "metrics": {"compute": ["fsyn"], "steps": 5},
    }))
    out = tmp_path / "run"
    argv = ["run", str(config), "--model", "toy", "--limit", "3", "--output_path", str(out), "--no-progress"]
    assert main(argv) == 0
    rows = RunStore(out).read_rows()
    fsyn = rows.pivot(index="instance_id", columns="explainer", values="fsyn").loc[[i.id for i in counting]]
    assert fsyn.oracle.notna().all() and (fsyn.precomputed[:2] == fsyn.oracle[:2]).all()
    # the third instance has no files: a failure row naming the file and the fix, and the run went on
    missing = rows[(rows.explainer == "precomputed") & (rows.status == "failed")]
    assert len(missing) == 1 and missing.stage.iloc[0] == "explain" and missing.instance_id.iloc[0] == counting[2].id
    assert f"{missing.instance_id.iloc[0]}.npy does not exist; save an H×W array there" in missing.message.iloc[0]
    # a path that is not a directory: one line, exit code 2
    config.write_text(yaml.safe_dump({
        "explainers": [{"name": "precomputed", "options": {"path": str(tmp_path / "nowhere")}}], "metrics": {"compute": ["fsyn"]},
    }))
    capsys.readouterr()
    assert main(["run", str(config), "--model", "toy", "--tasks", "synthetic", "--limit", "1", "--output_path", str(tmp_path / "r2"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "is not a directory; pass path=DIR" in err.splitlines()[-1]
    assert not (tmp_path / "r2").exists()  # refused when the config is read, before a run directory exists


# -- bad files are failure rows ---------------------------------------------------------------------
BAD_MAPS = {
    # name: (what to write at the map path, a phrase of the failure message)
    "missing": (None, "does not exist; save an H×W array there with numpy.save"),
    "wrong_shape": (np.ones((64, 48)), "has shape (64, 48); expected (48, 64) (height, width) of the original image"),
    "channels": (np.ones((48, 64, 3)), "has shape (48, 64, 3); expected (48, 64)"),
    "nan": (np.where(np.eye(48, 64) > 0, np.nan, 1.0), "holds 48 NaN or infinite values; replace them"),
    "strings": (np.full((48, 64), "hot"), "has dtype <U3, not real numbers; save a float array"),
    "complex": (np.ones((48, 64), complex), "has dtype complex128, not real numbers"),
    "pickle": (np.array([{"heat": 1}], dtype=object), "holds pickled Python objects, which synfaith never loads"),
    "npz": ("npz", "is an .npz archive, not one array"),
    "garbage": (b"not numpy at all", "is not a .npy file (it does not start with numpy's magic bytes)"),
    "truncated": (b"\x93NUMPY\x01\x00", "cannot be read as a .npy array"),
    "constant": (np.full((48, 64), 0.5), "is constant (every pixel is 0.5), so it ranks no unit"),
}
BAD_TEXTS = {
    "no_text_file": (None, "no text scores for instance 'bad': "),
    "not_json": ("{red: 1", "is not valid JSON"),
    "a_list": ('["red"]', "holds a JSON list; expected an object mapping words or tokens to scores"),
    "a_string_score": ('{"red": "high"}', "the score of 'red' is 'high'; scores must be finite numbers"),
    "a_nan_score": ('{"red": NaN}', "the score of 'red' is nan"),
    "nothing_matches": ('{"zebra": 1.0, "lion": 2.0}', "none of its 2 keys is a word or token of the query"),
    "all_equal": (json.dumps({w: 1.0 for w in ["is", "there", "a", "red", "circle", "?"]}), "all 6 query units score 1.0"),
}


def _write_bad(directory: Path, content, text) -> None:
    directory.mkdir()
    map_file, text_file = attribution_files(directory, "bad")
    if isinstance(content, np.ndarray):
        np.save(map_file, content, allow_pickle=True)
    elif content == "npz":
        np.savez(map_file.with_suffix(""), a=np.ones((48, 64)))
        map_file.with_suffix(".npz").rename(map_file)
    elif isinstance(content, bytes):
        map_file.write_bytes(content)
    if text is not None:
        text_file.write_text(text, encoding="utf-8")


def test_missing_or_broken_files_are_failure_rows_that_name_the_file_and_the_fix(toy, tmp_path):
    instance = Instance("bad", random_image(64, 48), "Is there a red circle?", answer="yes", ground_truth=GroundTruth((Box(0, 0, 20, 20),), ("red",)))
    good_map = np.zeros((48, 64))
    good_map[:20, :20] = 1
    explainers, expected = {}, {}
    for name, (content, phrase) in BAD_MAPS.items():
        _write_bad(tmp_path / name, content, '{"red": 1.0}')
        explainers[name], expected[name] = get_explainer("precomputed", path=str(tmp_path / name)), (phrase, "bad.npy")
    for name, (text, phrase) in BAD_TEXTS.items():
        _write_bad(tmp_path / name, good_map, text)
        explainers[name], expected[name] = get_explainer("precomputed", path=str(tmp_path / name)), (phrase, "bad.text.json")
    _write_bad(tmp_path / "fine", good_map, '{"red": 1.0}')
    explainers["fine"] = get_explainer("precomputed", path=str(tmp_path / "fine"))
    rows = {row["explainer"]: row for row in score_instance(toy, instance, explainers=explainers, plan=MetricPlan.build(["fsyn"], {"steps": 3}))}
    assert rows.pop("fine")["status"] == "ok"
    for name, (phrase, file_name) in expected.items():
        row = rows[name]
        assert row["status"] == "failed" and row["stage"] == "explain", name
        message = row["message"]
        assert message.startswith("PrecomputedMapError: ") and "\n" not in message, (name, message)
        assert phrase in message and file_name in message, (name, message)
    assert "text_ties=reading_order" in rows["no_text_file"]["message"] and "text_ties=reading_order" in rows["all_equal"]["message"]


def test_text_ties_reading_order_ranks_the_query_in_reading_order(toy, tmp_path):
    instance = Instance("tie", random_image(64, 64), "Is there a red circle?")
    mask = np.zeros((64, 64))
    mask[:16, :16] = 1
    save_attribution(tmp_path, instance.id, mask)  # no text file
    prepared = toy.prepare(instance)
    with pytest.raises(PrecomputedMapError, match="no text scores for instance 'tie'"):
        get_explainer("precomputed", path=str(tmp_path)).explain(toy, prepared, None)
    attribution = get_explainer("precomputed", path=str(tmp_path), text_ties="reading_order").explain(toy, prepared, None)
    n = prepared.n_text_units
    assert np.argsort(-attribution.text_scores, kind="stable").tolist() == list(range(n))
    assert np.abs(attribution.text_scores).max() < 1e-8 and attribution.raw["text_tie_break"] == "reading order"
    # equal scores given for every unit break the same way, around the given value
    (tmp_path / "tie.text.json").write_text(json.dumps({"is": 2.0, "there": 2.0, "a": 2.0, "red": 2.0, "circle": 2.0, "?": 2.0}))
    tied = get_explainer("precomputed", path=str(tmp_path), text_ties="reading_order").explain(toy, prepared, None)
    assert np.argsort(-tied.text_scores, kind="stable").tolist() == list(range(n)) and np.allclose(tied.text_scores, 2.0)


def test_options_are_checked_and_the_explainer_passes_the_contract_kit(toy, planted, tmp_path):
    from synfaith.explainers.options import ExplainerOptionError

    with pytest.raises(ExplainerOptionError, match="option 'path' is required"):
        get_explainer("precomputed")
    with pytest.raises(ExplainerOptionError, match="text_ties"):
        get_explainer("precomputed", path=str(tmp_path), text_ties="index")
    with pytest.raises(PrecomputedMapError, match="levels must be an integer ≥ 2"):
        get_explainer("precomputed", path=str(tmp_path), levels=1)
    instance = next(i for i in planted if i.ground_truth.boxes)
    write_oracle_evidence(tmp_path, [instance])
    explainer = get_explainer("precomputed", path=str(tmp_path))
    report = check_explainer(explainer, toy, instance=instance)
    assert {"compatible", "shapes", "finite", "deterministic"} <= set(report.checks)
    attribution = explainer.explain(toy, toy.prepare(instance), None)
    assert attribution.model_calls == 0 and attribution.raw["pixel_map"].shape == (64, 64)
    with pytest.raises(AttributionError):  # the base contract still applies: nothing else slips through
        Oracle().explain(toy, toy.prepare(Instance("x", random_image(64, 64), "Is it red?", ground_truth=GroundTruth(words=("red",)))), None)
