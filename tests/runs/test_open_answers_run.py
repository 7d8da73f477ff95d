"""Open answers through a run: the config's setting, the fingerprint, the remote refusal, and the
shipped ``configs/open_demo.yaml`` end to end (rows, F_syn, the report)."""

import json
import math
from pathlib import Path

import pytest

from synfaith.report import write_report
from synfaith.runs import RunStore, parse_config, run
from synfaith.runs.config import ConfigError, read_config_file
from synfaith.runs.runner import open_sources, run_identity

OPEN_DEMO = Path(__file__).resolve().parents[2] / "configs" / "open_demo.yaml"


def config_data(tmp_path, **dataset):
    return {
        "output_dir": str(tmp_path / "run"),
        "models": [{"path": "toy", "name": "toy", "device": "cpu"}],
        "datasets": [{"kind": "synthetic", "name": "world", "options": {"per_cell": 1, "families": ["existence"]}} | dataset],
        "explainers": [{"name": "random"}],
        "metrics": {"compute": ["fsyn"], "steps": 3},
        "execution": {"progress": False},
    }


def test_the_dataset_setting_is_validated_and_reaches_the_instances(tmp_path):
    config = parse_config(config_data(tmp_path, answer_type="open", max_answer_tokens=24))
    (source, indices), = open_sources(config)
    instance = source.row(indices[0])
    assert instance.meta["answer_type"] == "open" and instance.meta["max_answer_tokens"] == 24
    with pytest.raises(ConfigError, match=r"datasets\.0\.answer_type: Input should be 'yes_no', 'choice' or 'open'"):
        parse_config(config_data(tmp_path, answer_type="free"))
    with pytest.raises(ConfigError, match=r"datasets\.0\.max_answer_tokens"):
        parse_config(config_data(tmp_path, max_answer_tokens=0))


def test_the_fingerprint_changes_with_the_answer_settings_only_when_set(tmp_path):
    def fingerprints(**dataset):
        config = parse_config(config_data(tmp_path, **dataset))
        identity = run_identity(config, open_sources(config))
        return identity.datasets["world"], identity.fingerprints()

    plain_part, plain = fingerprints()
    assert "answers" not in plain_part  # existing configs keep their fingerprints
    open_part, opened = fingerprints(answer_type="open")
    assert open_part["answers"] == {"answer_type": "open", "max_answer_tokens": None} and opened != plain
    assert fingerprints(answer_type="open", max_answer_tokens=32)[1] != opened


def test_an_endpoint_with_open_answers_is_refused_before_the_run_in_one_line(tmp_path):
    data = config_data(tmp_path, answer_type="open")
    data["models"] = [{"path": "http://127.0.0.1:9", "name": "remote", "options": {"api_key_env": None}}]
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    reason = str(info.value).splitlines()[1]
    assert "dataset 'world' has answer_type open, which model 'remote' cannot serve" in reason and "teacher-forced" in reason


def test_the_open_demo_config_runs_small_and_reports(tmp_path):
    data = read_config_file(OPEN_DEMO)
    assert data["datasets"][0]["answer_type"] == "open" and data["datasets"][0]["max_answer_tokens"] > 10
    data["output_dir"] = str(tmp_path / "open_demo")
    data["datasets"][0]["limit"] = 2
    summary = run(parse_config(data))
    assert summary.failures == 0 and summary.rows_written == 2 * 3
    rows = RunStore(tmp_path / "open_demo").read_rows()
    assert (rows["status"] == "ok").all() and rows["fsyn"].notna().all()
    assert set(rows["explainer"]) == {"random", "input_gradients", "multishap"}
    for _, row in rows.iterrows():
        log_probs = json.loads(row["answer_token_log_probs"])
        assert len(log_probs) == row["answer_tokens"] > 5
        # the per-token probabilities multiply to the stored joint probability (float32 forwards:
        # the game may share the prefix, the log-probs come from one full pass)
        assert math.exp(math.fsum(log_probs)) == pytest.approx(row["v_full"], rel=1e-6)
        assert row["answer"].endswith(".") and (row["correct_by"] in ("exact", "contains")) == bool(row["correct"])
        assert json.loads(row["meta"])["answer_type"] == "open"
    page = write_report(tmp_path / "open_demo")
    text = page.read_text(encoding="utf-8")
    assert 'id="table-leaderboard_by_dataset"' in text and 'id="table-model_groups"' in text  # the F_syn tables were computed
