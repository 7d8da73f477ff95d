"""``synfaith explain`` and the Python façade (``synfaith.load_model``, ``synfaith.explain``, ``synfaith.evaluate``).

The numbers ``explain`` reports are recomputed here from the toy model's own game, and
``evaluate``'s rows are compared with the rows ``synfaith run`` writes for the same choices.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import synfaith
from synfaith.cli import main
from synfaith.data import Instance
from synfaith.data.synthetic import synthetic_instances
from synfaith.metrics import redundancy_profile, synergistic_faithfulness, unimodal_faithfulness

QUESTION = "Is there a red circle?"


def _scene() -> Image.Image:
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).ellipse((20, 20, 36, 36), fill="red")
    return image


@pytest.fixture(scope="module")
def toy():
    return synfaith.load_model("toy")


@pytest.fixture(scope="module")
def scene_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("explain") / "scene.png"
    _scene().save(path)
    return path


@pytest.fixture(scope="module")
def planted():
    return synthetic_instances(1, split="test", families=("existence",), subsets=("synergy",))[0]


def test_cli_writes_the_figure_and_json_whose_numbers_the_models_game_reproduces(toy, scene_png, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["explain", "--model", "toy", "--image", str(scene_png), "--question", QUESTION, "--explainers", "random,gradcam,rollout", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert [line.split()[0] for line in printed.splitlines()[2:5]] == ["random", "gradcam", "rollout"]
    assert Image.open(out / "explain.png").size[0] > 600
    data = json.loads((out / "explain.json").read_text())
    assert list(data["explainers"]) == ["random", "gradcam", "rollout"]
    assert data["model"] == "toy" and data["question"] == QUESTION and data["choices"] is None
    assert data["answer"] in ("yes", "no") and data["correct"] is None
    assert "".join(data["query_tokens"]) == QUESTION

    # the same instance, scored here from the toy's game directly
    prepared = toy.prepare(Instance("again", _scene(), QUESTION))
    target = toy.generate_target(prepared)
    assert target.answer == data["answer"]
    game = toy.game(prepared, target)
    profile = redundancy_profile(game)
    assert data["instance"]["modality_dividend"] == pytest.approx(profile.dividend, abs=1e-6)
    assert data["instance"]["v_full"] == pytest.approx(game.value(np.ones(16, bool), np.ones(6, bool)), abs=1e-6)
    for name, entry in data["explainers"].items():
        assert entry["status"] == "ok", name
        image_scores, text_scores = np.asarray(entry["image_scores"]), np.asarray(entry["text_scores"])
        assert image_scores.shape == (16,) and text_scores.shape == (6,)
        fsyn = synergistic_faithfulness(game, image_scores, text_scores, steps=11)
        assert entry["fsyn"] == pytest.approx(fsyn.score, abs=1e-6)
        assert entry["fsyn"] == pytest.approx((entry["fsyn_deletion"] + entry["fsyn_insertion"]) / 2)
        assert entry["fsyn_deletion_curve"] == pytest.approx(fsyn.deletion_dividends.tolist(), abs=1e-6)
        unimodal = unimodal_faithfulness(game, image_scores, text_scores, steps=11)
        assert entry["unimodal"]["visual_srg"] == pytest.approx(unimodal.visual.srg, abs=1e-6)
        assert entry["unimodal"]["textual_deletion"] == pytest.approx(unimodal.textual.deletion, abs=1e-6)
        cost = entry["cost"]
        assert 0 < cost["metric_coalitions"]["fsyn"] <= 6 * 11 + 2 and cost["seconds"] >= 0
    assert data["explainers"]["gradcam"]["cost"]["backward_passes"] >= 1


def test_cli_multiple_choice_and_the_reference_answer(scene_png, tmp_path):
    out = tmp_path / "mc"
    assert main(["explain", "--image", str(scene_png), "--question", "How many red shapes are there?", "--choices", "0|1|2",
                 "--answer", "B", "--explainers", "random,rollout", "--steps", "5", "--out", str(out)]) == 0
    data = json.loads((out / "explain.json").read_text())
    assert data["choices"] == ["0", "1", "2"] and data["answer"] in ("A", "B", "C")
    assert data["correct"] == (data["answer"] == "B") and data["reference_answer"] == "B"
    assert "(C) 2" in "".join(data["query_tokens"])  # the choices are query tokens too
    assert data["steps"] == 5 and len(data["explainers"]["rollout"]["fsyn_insertion_curve"]) == 5


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"--image": "bad.png"}, "cannot read --image"),
        ({"--image": "missing.png"}, "file not found"),
        ({"--choices": "only one"}, "--choices needs 2 to 26"),
        ({"--choices": "a||b"}, "--choices needs 2 to 26"),
        ({"--explainers": "random,lime"}, "unknown explainer 'lime'"),
        ({"--steps": "1"}, "--steps must be at least 2"),
        ({"--question": "   "}, "question must be a non-empty string"),
    ],
)
def test_cli_bad_input_is_one_line_with_exit_code_2(scene_png, tmp_path, capsys, change, expected):
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    flags = {"--image": str(scene_png), "--question": QUESTION, "--explainers": "random", "--out": str(tmp_path / "out")}
    flags |= {k: (str(tmp_path / v) if k == "--image" else v) for k, v in change.items()}
    assert main(["explain", *[part for pair in flags.items() for part in pair]]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and expected in error, error
    assert not (tmp_path / "out").exists()


def test_help_states_the_default_explainers():
    done = subprocess.run([sys.executable, "-m", "synfaith.cli", "explain", "--help"], capture_output=True, text=True, timeout=120)
    text = " ".join(done.stdout.split())
    assert done.returncode == 0
    assert "the paper's nine" in text and "MultiSHAP with budget=512" in text and "exact SII is not computed" in text


def test_python_explain_on_a_planted_instance_draws_and_round_trips(toy, planted):
    explanation = synfaith.explain(toy, planted, explainers=["oracle", "random", "gradcam"])
    assert explanation.model == "toy" and explanation.explainers == ["oracle", "random", "gradcam"]
    assert explanation.correct is (explanation.answer == planted.answer)
    oracle = explanation["oracle"]
    coverage, deciding = toy.ground_truth_units(toy.prepare(planted))
    # the Oracle ranks the planted evidence first: its top units are the ones the evidence box covers
    assert set(np.flatnonzero(oracle.image_scores == oracle.image_scores.max())) == set(np.flatnonzero(coverage == coverage.max()))
    assert set(np.flatnonzero(oracle.text_scores == oracle.text_scores.max())) == set(np.flatnonzero(deciding))
    assert explanation.boxes == ((16, 16, 32, 32),)
    assert json.loads(explanation.to_json()) == json.loads(json.dumps(explanation.to_dict()))
    frame = explanation.to_frame()
    assert list(frame.index) == ["oracle", "random", "gradcam"] and frame.loc["gradcam", "fsyn"] == explanation["gradcam"].fsyn
    with pytest.raises(KeyError, match="holds oracle, random, gradcam"):
        explanation["lime"]

    figure = explanation.plot()
    titles = [ax.get_title() for ax in figure.axes]
    assert {"oracle", "random", "gradcam"} <= set(titles)
    labels = " ".join(ax.get_xlabel() for ax in figure.axes)
    assert f"F_syn = {oracle.fsyn:.3f}" in labels and f"SRG {oracle.unimodal['visual_srg']:+.2f}" in labels
    assert synfaith.default_explainers(toy.capabilities, ground_truth=True)[0] == "oracle"


def test_python_explain_records_a_failing_explainer_and_goes_on(toy, tmp_path):
    explanation = synfaith.explain(toy, np.asarray(_scene()), QUESTION, explainers={"oracle": {}, "random": {"seed": 3}})
    oracle, random = explanation["oracle"], explanation["random"]
    assert not oracle.ok and "ground truth" in oracle.message and oracle.fsyn is None
    assert random.ok and random.fsyn is not None
    png, data = explanation.save(tmp_path / "saved")
    saved = json.loads(data.read_text())
    assert saved["explainers"]["oracle"]["status"] == "failed" and saved["explainers"]["oracle"]["fsyn"] is None
    assert png.stat().st_size > 0
    assert "oracle" in explanation.describe() and "failed" in explanation.describe()


def test_python_explain_bad_inputs_are_one_line_errors(toy):
    with pytest.raises(ValueError, match="give either an Instance or an image"):
        synfaith.explain(toy, synthetic_instances(1, families=("existence",), subsets=("synergy",))[0], "a question?")
    with pytest.raises(ValueError, match=r"uint8\[H, W, 3\]"):
        synfaith.explain(toy, np.zeros((8, 8)), QUESTION)
    with pytest.raises(ValueError, match="choices must be a list of strings"):
        synfaith.explain(toy, _scene(), QUESTION, choices="abc")
    with pytest.raises(ValueError, match="steps"):
        synfaith.explain(toy, _scene(), QUESTION, steps=1)
    with pytest.raises(ValueError, match="a loaded model"):
        synfaith.explain(object(), _scene(), QUESTION)


def test_import_is_lazy_and_load_model_accepts_toy():
    code = ("import sys, synfaith\n"
            "assert 'torch' not in sys.modules, 'import synfaith loaded torch'\n"
            "assert {'explain', 'evaluate', 'load_model', 'FunctionGame', 'synergistic_faithfulness'} <= set(dir(synfaith))\n"
            "model = synfaith.load_model('toy')\n"
            "print(type(model).__name__, sorted(model.capabilities))\n"
            "try:\n    synfaith.no_such_name\nexcept AttributeError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["LlavaAdapter ['attention', 'game', 'image_tokens', 'white_box']",
                                        "module 'synfaith' has no attribute 'no_such_name'"]
    from synfaith.api import evaluate, explain

    assert synfaith.explain is explain and synfaith.evaluate is evaluate
    assert set(synfaith.__all__) == {"__version__", *synfaith._LAZY}  # every lazy name is exported, and only those


def test_evaluate_gives_the_rows_synfaith_run_writes(tmp_path, capsys):
    choices = dict(explainers=["random", "gradcam"], metrics=["fsyn", "unimodal"], limit=2)
    evaluation = synfaith.evaluate("toy", "synthetic", **choices, output_dir=tmp_path / "api")
    assert main(["run", "--model", "toy", "--limit", "2", "--explainers", "random,gradcam", "--metrics", "fsyn,unimodal",
                 "--output_path", str(tmp_path / "cli"), "--no-progress"]) == 0
    capsys.readouterr()
    cli = synfaith.Evaluation.open(tmp_path / "cli")
    key = ["instance_id", "explainer"]
    ours, theirs = evaluation.rows.sort_values(key).reset_index(drop=True), cli.rows.sort_values(key).reset_index(drop=True)
    assert len(ours) == 4 and (ours["status"] == "ok").all()
    assert ours[key].equals(theirs[key])
    assert ours["fsyn"].to_numpy() == pytest.approx(theirs["fsyn"].to_numpy(), abs=1e-9)
    assert ours["visual_srg"].to_numpy() == pytest.approx(theirs["visual_srg"].to_numpy(), abs=1e-9)

    summary = evaluation.summary()
    fsyn = summary[summary["metric"] == "fsyn"].set_index("explainer")
    assert fsyn.loc["gradcam", "mean"] == pytest.approx(ours[ours.explainer == "gradcam"]["fsyn"].mean())
    assert (fsyn["n"] == 2).all() and {"visual_srg", "textual_deletion"} <= set(summary["metric"])
    page = evaluation.report(tmp_path / "report")
    assert page == tmp_path / "report" / "index.html" and "gradcam" in page.read_text(encoding="utf-8")

    again = synfaith.evaluate("toy", "synthetic", **choices, output_dir=tmp_path / "api")
    assert (again.rows_written, again.skipped) == (0, 4)  # the same settings resume: nothing runs again


def test_evaluate_without_output_dir_keeps_a_temporary_run_and_refuses_bad_choices(toy):
    evaluation = synfaith.evaluate("toy", {"kind": "synthetic", "options": {"per_cell": 1}}, ["random"], ["fsyn"], limit=1)
    try:
        assert evaluation.run_dir.is_relative_to(Path(tempfile.gettempdir())) and evaluation.run_dir.name.startswith("synfaith-evaluate-")
        assert len(evaluation.rows) == 1 and (evaluation.run_dir / "results.json").is_file()
    finally:
        shutil.rmtree(evaluation.run_dir)
    from synfaith.runs import ConfigError

    with pytest.raises(ConfigError, match="unknown explainer 'lime'"):
        synfaith.evaluate("toy", "synthetic", ["lime"], ["fsyn"], limit=1, output_dir=Path(tempfile.gettempdir()) / "never-written")
    with pytest.raises(ValueError, match="a loaded model cannot be sent to the runner"):
        synfaith.evaluate(toy, "synthetic", ["random"], ["fsyn"], limit=1)


PLUGIN = '''
import numpy as np

from synfaith.contracts import Scores
from synfaith.explainers import Explainer, register_explainer


@register_explainer
class LastFirst(Explainer):
    """Ranks the last image unit and the last query token first (a plugin for the test)."""
    name = "last_first"
    requires = frozenset()

    def attribute(self, model, prepared, target):
        return Scores(np.arange(prepared.n_image_units, dtype=float), np.arange(prepared.n_text_units, dtype=float))
'''


def test_explain_loads_include_path_plugins_before_reading_the_registry(scene_png, tmp_path):
    from synfaith.explainers import EXPLAINERS

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "explain_test_plugin.py").write_text(PLUGIN)
    try:
        assert main(["explain", "--image", str(scene_png), "--question", QUESTION, "--explainers", "last_first,random",
                     "--include_path", str(folder), "--out", str(tmp_path / "out")]) == 0
        entry = json.loads((tmp_path / "out" / "explain.json").read_text())["explainers"]["last_first"]
        assert entry["status"] == "ok" and entry["image_scores"] == list(range(16)) and entry["text_scores"] == list(range(6))
    finally:
        EXPLAINERS.unregister("last_first")
        sys.modules.pop("explain_test_plugin", None)
