"""Run identity: every fingerprinted setting changed in turn — no row of the old settings is reused or relabelled."""

import shutil

import pytest
import yaml

from synfaith.runs import RunStore, parse_config, run
from synfaith.runs.identity import RunIdentity
from synfaith.runs.store import RunSettingsChanged
from synfaith.models.loading import toy_checkpoint


def tiny(output_dir, model_path="toy"):
    return {
        "output_dir": str(output_dir),
        "models": [{"path": str(model_path), "name": "toy", "device": "cpu"}],
        "datasets": [{"kind": "synthetic", "name": "world", "limit": 2, "options": {"per_cell": 1, "families": ["existence"]}}],
        "explainers": [{"name": "random"}],
        "metrics": {"compute": ["redundancy", "fsyn"], "steps": 3},
        "execution": {"progress": False},
    }


@pytest.fixture(scope="module")
def toy_copy(tmp_path_factory):
    directory = tmp_path_factory.mktemp("toy") / "toy-vlm"
    shutil.copytree(toy_checkpoint(), directory)
    return directory


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, toy_copy):
    directory = tmp_path_factory.mktemp("baseline") / "run"
    summary = run(parse_config(tiny(directory, toy_copy)))
    assert summary.rows_written == 2 and summary.failures == 0
    return directory


def _set(data, path, value):
    *parents, last = path
    for key in parents:
        data = data[key]
    data[last] = value


CHANGES = [
    ("model dtype", ("models", 0, "dtype"), "float64", "models[toy].dtype"),
    ("model option", ("models", 0, "options"), {"max_new_tokens": 5}, "models[toy].options"),
    ("dataset option", ("datasets", 0, "options", "seed"), 7, "datasets[world].options.seed"),
    ("dataset families", ("datasets", 0, "options", "families"), ["counting"], "datasets[world].options.families"),
    ("explainer option", ("explainers", 0, "options"), {"seed": 9}, "explainers[random].options.seed"),
    ("metric setting", ("metrics", "steps"), 4, "metrics.steps"),
    ("metric list", ("metrics", "compute"), ["redundancy", "fsyn", "pointing"], "metrics.compute"),
    ("zero-state", ("zero_state",), {"blur": 0.25}, "zero_state.blur"),
    ("run seed", ("seed",), 1, "seed"),
]


@pytest.mark.parametrize("what, path, value, field", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_changed_setting_is_refused_by_name_then_rerun_on_request(baseline, toy_copy, tmp_path, what, path, value, field):
    directory = tmp_path / "run"
    shutil.copytree(baseline, directory)
    old = RunStore(directory).read_rows()
    data = tiny(directory, toy_copy)
    _set(data, path, value)
    config = parse_config(data)
    with pytest.raises(RunSettingsChanged, match=field.replace("[", r"\[").replace("]", r"\]")):
        run(config)
    assert yaml.safe_load((directory / "config.yaml").read_text()) == yaml.safe_load((baseline / "config.yaml").read_text())

    summary = run(config, rerun_changed=True)
    assert summary.skipped == 0 and summary.changed and any(c.startswith(field) for c in summary.changed)
    new = RunStore(directory).read_rows()
    expected = RunIdentity.read(directory).fingerprints()
    assert len(new) == summary.rows_written > 0
    assert set(new.fingerprint) == {expected[("toy", "world", "random")]}
    assert not set(new.fingerprint) & set(old.fingerprint)  # nothing of the old settings is reused or relabelled
    assert len(RunStore(directory).read_rows(include_stale=True)) == len(old) + len(new)
    assert RunStore(directory).config() == config.dump()


def test_the_package_version_and_the_checkpoint_are_part_of_the_identity(baseline, toy_copy, tmp_path, monkeypatch):
    directory = tmp_path / "run"
    shutil.copytree(baseline, directory)
    config = parse_config(tiny(directory, toy_copy))
    monkeypatch.setattr("synfaith.__version__", "99.0")
    with pytest.raises(RunSettingsChanged, match=r"synfaith: .* → \"99.0\""):
        run(config)
    monkeypatch.undo()

    changed_checkpoint = tmp_path / "toy-vlm"
    shutil.copytree(toy_copy, changed_checkpoint)
    (changed_checkpoint / "MODEL_CARD.md").write_text("edited\n")
    with pytest.raises(RunSettingsChanged, match=r"models\[toy\].checkpoint"):
        run(parse_config(tiny(directory, changed_checkpoint) | {"output_dir": str(directory)}))


def test_same_settings_resume_and_new_labels_are_not_changes(baseline, toy_copy, tmp_path):
    directory = tmp_path / "run"
    shutil.copytree(baseline, directory)
    data = tiny(directory, toy_copy)
    assert run(parse_config(data)).skipped == 2
    data["explainers"].append({"name": "oracle"})
    added = run(parse_config(data))
    assert added.changed == [] and added.skipped == 2 and added.rows_written == 2
    # a run that names fewer explainers leaves the others' rows and records in place
    data["explainers"] = [{"name": "random"}]
    assert run(parse_config(data)).skipped == 2
    assert set(RunStore(directory).read_rows().explainer) == {"random", "oracle"}


def test_batch_size_progress_and_the_limit_do_not_change_the_identity(baseline, toy_copy, tmp_path):
    directory = tmp_path / "run"
    shutil.copytree(baseline, directory)
    data = tiny(directory, toy_copy)
    data["models"][0]["batch_size"] = 3
    data["execution"] = {"progress": False, "flush_every": 1}
    summary = run(parse_config(data))
    assert summary.skipped == 2 and summary.rows_written == 0 and summary.changed == []
    data["datasets"][0]["limit"] = 3  # one more instance: the two done are reused
    more = run(parse_config(data))
    assert more.changed == [] and more.skipped == 2 and more.rows_written == 1


def test_an_edited_dataset_file_is_a_changed_setting(tmp_path, toy_copy):
    from synfaith.data.synthetic import synthetic_instances, write_synthetic

    path = write_synthetic(tmp_path / "data", synthetic_instances(1, families=("existence",), subsets=("synergy",)))
    data = tiny(tmp_path / "run", toy_copy)
    data["datasets"] = [{"kind": "jsonl", "name": "world", "options": {"path": str(path)}}]
    assert run(parse_config(data)).rows_written == 1
    path.write_text(path.read_text().replace("Is there", "Is there really"))
    with pytest.raises(RunSettingsChanged, match=r"datasets\[world\].files.path"):
        run(parse_config(data))


def test_rows_without_fingerprints_are_not_reused_silently(baseline, toy_copy, tmp_path):
    import pyarrow.parquet as pq

    directory = tmp_path / "run"
    shutil.copytree(baseline, directory)
    (directory / "identity.json").unlink()  # what an earlier synfaith left: rows, no fingerprints
    for shard in RunStore(directory).shards():
        pq.write_table(pq.read_table(shard).drop_columns(["fingerprint"]), shard)
    config = parse_config(tiny(directory, toy_copy))
    with pytest.raises(RunSettingsChanged, match="written before run fingerprints existed"):
        run(config)
    again = run(config, rerun_changed=True)
    assert again.rows_written == 2 and again.skipped == 0 and again.changed
    assert RunStore(directory).read_rows().fingerprint.notna().all()
