"""lmms-eval habits through the CLI and the Python API: --tasks list, --metrics (the exact SII only when
asked, announced with its cost), fractional --limit, --device, --verbosity and log lines without
progress bars, --model hf --model_args pretrained=…, --log_samples, and results.json as numbers."""

import json
import math
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t

from synfaith.cli import main, run_config_from_args
from synfaith.data import DATASETS, open_dataset
from synfaith.runs import RunStore, parse_config, run
from synfaith.runs.config_parts import instance_count
from synfaith.runs.cost import sii_cost, sii_pair_evaluations
from synfaith.runs.results import describe_values, git_revision, results_document

SYNTHETIC_SIZE = len(open_dataset("synthetic"))  # per_cell 5 × 3 families × 3 subsets
FLAGS = ["run", "--model", "toy", "--tasks", "synthetic", "--explainers", "random"]


def run_args(**overrides):
    import argparse

    fields = dict(config=None, model="toy", model_args=None, tasks="synthetic", explainers="random", metrics=None, limit=None,
                  device=None, batch_size=None, seed=None, output_path=None, executor=None, no_progress=False, shard=None,
                  include_path=None, imports=None)
    return argparse.Namespace(**(fields | overrides))


def test_tasks_list_and_metrics_list_print_every_registered_name(capsys):
    assert main(["run", "--tasks", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if line and not line.startswith("use:")]
    assert listed == DATASETS.names()
    assert main(["run", "--metrics", "list"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n{name} " in "\n" + out for name in ("redundancy", "fsyn", "sii", "pointing"))


def test_a_flag_run_leaves_out_the_exact_sii_unless_metrics_names_it():
    default = run_config_from_args(run_args())
    assert "sii" not in default.metrics.compute and {"fsyn", "unimodal", "redundancy"} <= set(default.metrics.compute)
    asked = run_config_from_args(run_args(metrics="fsyn,sii"))
    assert asked.metrics.compute == ["fsyn", "sii"]
    # a black-box endpoint gets only the metrics it can serve (no probes), not an error
    remote = run_config_from_args(run_args(model="http://localhost:8000", model_args="model=m,grid=[4,4]"))
    assert not {"influence", "stability", "sii"} & set(remote.metrics.compute) and "fsyn" in remote.metrics.compute


def test_the_sii_cost_formula_counts_the_distinct_coalitions_exactly():
    from synfaith.games.analytic import AndGame
    from synfaith.metrics.sii import sii_ground_truth

    # enough units that no background group is empty: the bound is reached exactly
    for steps, background in ((11, 6), (5, 4), (2, 3)):
        game = AndGame(96, 96, 0, 0)
        scores = np.arange(96, dtype=float)[::-1]
        assert sii_ground_truth(game, scores, scores, steps, background, seed=0).coalitions == sii_pair_evaluations(steps, background)
    assert sii_pair_evaluations(11, 6) == 9 * 256 + 64 + 4 - 20 == 2352
    cost = sii_cost(instances=10, explainers=9, steps=11, background_players=6)
    assert (cost.pairs, cost.evaluations, cost.fsyn_per_pair) == (90, 90 * 2352, 68)
    assert "2,352 game evaluations each" in cost.describe() and "35× F_syn's 68" in cost.describe()


def test_metrics_sii_is_announced_with_its_cost_before_the_run(tmp_path, capsys):
    argv = [*FLAGS, "--limit", "1", "--metrics", "fsyn,sii", "--no-progress", "--output_path", str(tmp_path / "run")]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    announced = [i for i, line in enumerate(err) if "exact SII ground truth" in line]
    progress = [i for i, line in enumerate(err) if "1/1 instances" in line]
    assert announced and progress and announced[0] < progress[0], err
    assert "1 (instance, explainer) pairs × up to 2,352 game evaluations each" in err[announced[0]]
    rows = RunStore(tmp_path / "run").read_rows()
    assert rows.sii.notna().all() and (rows.sii_coalitions <= 2352).all()
    # resumed: nothing left to compute, nothing announced
    assert main(argv) == 0
    assert "exact SII" not in capsys.readouterr().err


def test_fractional_limit_runs_that_fraction_of_each_dataset(tmp_path, capsys):
    assert instance_count(0.05, SYNTHETIC_SIZE) == math.ceil(0.05 * SYNTHETIC_SIZE) == 3
    assert instance_count(None, 7) is None and instance_count(2, 7) == 2 and instance_count(0.5, 1) == 1
    from synfaith.runs.runner import open_sources

    config = parse_config({"output_dir": str(tmp_path / "api"), "models": [{"path": "toy"}],
                           "datasets": [{"kind": "synthetic", "limit": 0.1}], "explainers": [{"name": "random"}]})
    assert open_sources(config)[0][1] == list(range(math.ceil(0.1 * SYNTHETIC_SIZE)))
    # the CLI: 5% of 45 instances → 3, with a log line per instance since bars are off
    argv = [*FLAGS, "--limit", "0.05", "--metrics", "fsyn", "--no-progress", "--device", "cpu", "--output_path", str(tmp_path / "run")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert len(RunStore(tmp_path / "run").read_rows()) == 3 and "3 rows written" in captured.out
    lines = [line for line in captured.err.splitlines() if "synfaith.runs.runner" in line]
    assert [line.split(": ", 1)[1].split(",")[0] for line in lines] == ["toy × synthetic: 1/3 instances", "toy × synthetic: 2/3 instances",
                                                                        "toy × synthetic: 3/3 instances"]
    assert RunStore(tmp_path / "run").config()["datasets"][0]["limit"] == 0.05
    # raising the limit reuses the rows (limit is not fingerprinted); --verbosity WARNING hides the INFO lines
    assert main([*argv[:-2], "--output_path", str(tmp_path / "run"), "--verbosity", "warning"]) == 0
    captured = capsys.readouterr()
    assert "3 already done" in captured.out and captured.err == ""


@pytest.mark.parametrize("limit", ["1.5", "-1", "half"])
def test_a_bad_limit_is_refused_by_the_parser(limit, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*FLAGS, f"--limit={limit}"])
    assert exit_info.value.code == 2 and "--limit" in capsys.readouterr().err


def test_a_bad_limit_in_a_config_names_the_field(tmp_path):
    from synfaith.runs import ConfigError

    for bad in (1.5, True, float("nan")):
        with pytest.raises(ConfigError, match="datasets.0.limit: limit must be a number of instances"):
            parse_config({"output_dir": str(tmp_path), "models": [{"path": "toy"}], "datasets": [{"kind": "synthetic", "limit": bad}],
                          "explainers": [{"name": "random"}]})


def test_device_sets_every_model_and_a_bad_one_is_one_line(tmp_path, capsys):
    assert run_config_from_args(run_args(device="cpu")).models[0].device == "cpu"
    assert main([*FLAGS, "--limit", "1", "--device", "gpu7", "--output_path", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device must be auto, cpu, cuda, cuda:N or mps, got 'gpu7'" in err[0]
    assert not (tmp_path / "run").exists()


def test_bad_verbosity_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--verbosity", "chatty", "run", "--tasks", "list"])
    assert "expected one of DEBUG, INFO, WARNING, ERROR" in capsys.readouterr().err


def test_the_runner_logs_progress_through_python_logging_when_bars_are_off(tmp_path, caplog):
    config = parse_config({"output_dir": str(tmp_path / "run"), "models": [{"path": "toy", "device": "cpu"}],
                           "datasets": [{"kind": "synthetic", "limit": 2}], "explainers": [{"name": "random"}],
                           "metrics": {"compute": ["fsyn"]}, "execution": {"progress": False}})
    with caplog.at_level("INFO", logger="synfaith.runs"):
        assert run(config).rows_written == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "synfaith.runs.runner"]
    assert [m.split(",")[0] for m in messages] == ["toy × synthetic: 1/2 instances", "toy × synthetic: 2/2 instances"]


def test_model_hf_with_pretrained_is_an_alias_and_a_bad_checkpoint_leaves_no_directory(tmp_path, capsys, monkeypatch):
    from synfaith.models.loading import toy_checkpoint

    argv = [*FLAGS, "--limit", "1", "--metrics", "fsyn", "--no-progress"]
    assert main(["run", *argv[1:], "--model", "hf", "--model_args", f"pretrained={toy_checkpoint()}", "--output_path", str(tmp_path / "ok")]) == 0
    assert RunStore(tmp_path / "ok").read_rows().model.tolist() == ["toy-vlm"]
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)  # no folder named hf here
    assert main([*argv, "--model", "hf", "--output_path", str(tmp_path / "none")]) == 2
    assert "--model hf names a loader, not a checkpoint: give the checkpoint as --model_args pretrained=" in capsys.readouterr().err
    # a folder that no adapter loads: before, the run directory was written and the run died on loading
    cases = (("no_config", None, "it has no config.json"), ("bert", {"model_type": "bert"}, "no synfaith adapter for model_type 'bert'"),
             ("no_weights", {"model_type": "llava_next"}, "the checkpoint directory holds no weights"))
    for name, config_json, expected in cases:
        folder = tmp_path / name
        folder.mkdir()
        if config_json:
            (folder / "config.json").write_text(json.dumps(config_json))
        out = tmp_path / f"run_{name}"
        assert main([*argv, "--model", "hf", "--model_args", f"pretrained={folder}", "--output_path", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0] and not out.exists(), err
        # the Python API refuses it the same way
        config = parse_config({"output_dir": str(out), "models": [{"path": str(folder)}], "datasets": [{"kind": "synthetic", "limit": 1}],
                               "explainers": [{"name": "random"}]})
        with pytest.raises((ValueError, OSError), match=expected):
            run(config)
        assert not out.exists()


def test_log_samples_and_results_json_hold_numbers(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*FLAGS, "--limit", "3", "--metrics", "fsyn,redundancy", "--no-progress", "--log_samples", "--output_path", str(out)]
    assert main(argv) == 0
    assert f"samples: {out / 'samples' / 'toy__synthetic.jsonl'}" in capsys.readouterr().out
    rows = RunStore(out).read_rows()
    samples = [json.loads(line) for line in (out / "samples" / "toy__synthetic.jsonl").read_text().splitlines()]
    assert [s["instance_id"] for s in samples] == rows.sort_values("instance_index").instance_id.tolist()
    for sample in samples:
        row = rows[rows.instance_id == sample["instance_id"]].iloc[0]
        assert sample["explainers"]["random"]["fsyn"] == pytest.approx(row.fsyn)
        assert sample["modality_dividend"] == pytest.approx(row.modality_dividend) and sample["question"] == row.question
        assert sample["text_units"] == list(row.text_units) and len(sample["explainers"]["random"]["text_scores"]) == row.n_text_units

    document = json.loads((out / "results.json").read_text())
    cell = document["results"]["toy"]["synthetic"]
    fsyn = cell["explainers"]["random"]["fsyn"]
    values = rows.fsyn.to_numpy()
    half = t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    assert fsyn["n"] == 3 and all(isinstance(fsyn[k], float) for k in ("mean", "sd", "ci_low", "ci_high"))
    assert fsyn["mean"] == pytest.approx(values.mean()) and fsyn["ci_low"] == pytest.approx(values.mean() - half)
    assert fsyn["ci_high"] == pytest.approx(values.mean() + half) and fsyn["sd"] == pytest.approx(values.std(ddof=1))
    assert cell["instance_metrics"]["modality_dividend"]["mean"] == pytest.approx(rows.modality_dividend.mean())
    assert cell["instances"] == 3 and cell["accuracy"]["mean"] == pytest.approx(rows.correct.mean())
    assert document["config"]["metrics"]["compute"] == ["fsyn", "redundancy"] and document["config"]["datasets"][0]["limit"] == 3
    assert document["versions"]["torch"] and document["last_run"]["rows_written"] == 3 and document["rows"] == {"total": 3, "ok": 3, "failed": 0}
    commit, _ = git_revision()
    assert document["git_hash"] == commit
    head = subprocess.run(["git", "-C", str(os.path.dirname(__import__("synfaith").__file__)), "rev-parse", "HEAD"],
                          capture_output=True, text=True)
    assert commit == (head.stdout.strip() if head.returncode == 0 else None)


def test_git_revision_never_fails_without_git(monkeypatch):
    monkeypatch.setenv("PATH", "")
    assert git_revision() == (None, None)


def test_results_document_redacts_secrets_and_writes_no_strings_for_numbers():
    key = "sk-results-4d9e1b7c"
    config = parse_config({"output_dir": "out", "models": [{"path": f"http://user:{key}x@localhost:9/v1", "options": {"api_key": key}}],
                           "datasets": [{"kind": "synthetic", "limit": 2}], "explainers": [{"name": "random"}]})
    rows = pd.DataFrame({"model": ["m"] * 3, "dataset": ["d"] * 3, "instance_id": ["a", "b", "c"], "explainer": ["random"] * 3,
                         "status": ["ok", "ok", "failed"], "correct": [True, False, True], "fsyn": [0.2, 0.4, np.nan],
                         "explain_seconds": [1.0, 3.0, np.nan]})
    text = json.dumps(results_document(rows, config.dump()))
    assert key not in text and "***" in text
    stats = json.loads(text)["results"]["m"]["d"]["explainers"]["random"]["fsyn"]
    assert stats == pytest.approx({"mean": 0.3, "sd": math.sqrt(0.02), "n": 2,
                                   "ci_low": 0.3 - t.ppf(0.975, 1) * 0.1, "ci_high": 0.3 + t.ppf(0.975, 1) * 0.1})
    assert describe_values([0.5]) == {"mean": 0.5, "sd": None, "ci_low": None, "ci_high": None, "n": 1}
    assert describe_values([]) == {"mean": None, "sd": None, "ci_low": None, "ci_high": None, "n": 0}
