"""The runner: rows, resumption after SIGKILL, bad input, shards, Ray."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from synfaith.runs import KEY, RunStore, parse_config, run, timing_columns
from tests.conftest import random_image


def small_config(output_dir, **overrides):
    data = {
        "output_dir": str(output_dir),
        "models": [{"path": "toy", "name": "toy", "device": "cpu", "batch_size": 32}],
        "datasets": [{"kind": "synthetic", "limit": 6, "seed": 1, "options": {"per_cell": 1}}],
        "explainers": [{"name": "random"}, {"name": "rollout"}, {"name": "oracle"}],
        "metrics": {"sii_limit": 1},
        "execution": {"shard_size": 3, "flush_every": 1, "progress": False},
    }
    for key, value in overrides.items():
        data[key] = value if not isinstance(value, dict) else data.get(key, {}) | value
    return data


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by key without the columns that legitimately differ between runs (timings, worker)."""
    frame = frame.drop(columns=list(timing_columns())).sort_values(list(KEY)).reset_index(drop=True)
    return frame


def assert_same_rows(a: pd.DataFrame, b: pd.DataFrame, rtol: float = 0.0) -> None:
    """Same keys and values; ``rtol`` > 0 allows float rounding (e.g. another torch thread count)."""
    a, b = comparable(a), comparable(b)
    assert list(a[list(KEY)].itertuples(index=False)) == list(b[list(KEY)].itertuples(index=False))
    for column in a.columns:
        left, right = a[column].tolist(), b[column].tolist()
        for x, y in zip(left, right):
            if isinstance(x, np.ndarray) and x.dtype.kind in "OUS":  # lists of strings (text units)
                assert x.tolist() == y.tolist(), column
            elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
                np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=rtol * 1e-3, err_msg=column)
            elif isinstance(x, float) and np.isnan(x):
                assert isinstance(y, float) and np.isnan(y), column
            elif isinstance(x, float) and rtol:
                assert x == pytest.approx(y, rel=rtol, abs=rtol * 1e-3), (column, x, y)
            else:
                assert x == y, (column, x, y)


@pytest.fixture(scope="module")
def reference_rows(tmp_path_factory):
    directory = tmp_path_factory.mktemp("reference")
    summary = run(parse_config(small_config(directory)))
    assert summary.rows_written == 18
    return RunStore(directory).read_rows()


def test_rows_hold_every_metric_and_record(reference_rows):
    rows = reference_rows
    assert len(rows) == 18 and not rows.duplicated(list(KEY)).any()
    ok = rows[rows.status == "ok"]
    assert set(ok.explainer) == {"random", "rollout", "oracle"}
    assert ok[["fsyn", "visual_deletion", "textual_insertion", "modality_dividend", "v_full"]].notna().all().all()
    assert (ok.fsyn_coalitions <= 6 * 11 + 2).all() and (ok.fsyn_evaluations <= ok.fsyn_coalitions).all() and (ok.explain_seconds >= 0).all()
    first = ok[ok.instance_index == ok.instance_index.min()]
    assert first.sii.notna().all()  # SII on the first instance only (sii_limit: 1)
    assert ok[ok.instance_index != ok.instance_index.min()].sii.isna().all()
    assert all(len(s) == n for s, n in zip(ok.image_scores, ok.n_image_units))
    assert all(len(c) == 11 for c in ok.fsyn_deletion_curve)
    assert ok.correct.notna().all() and json.loads(ok.meta.iloc[0])["family"]
    # the Oracle has nothing to rank on instances without planted boxes: a failure row, not a silent ranking
    # the Oracle has nothing to rank on instances without planted boxes: a failure row, not a silent ranking;
    # every other key succeeds (counted from the data, so a spurious failure anywhere fails this test)
    from synfaith.data import open_dataset

    source = open_dataset("synthetic", per_cell=1)
    boxless = sum(not (source.row(i).ground_truth and source.row(i).ground_truth.boxes) for i in source.indices(6, 1))
    failed = rows[rows.status == "failed"]
    assert len(failed) == boxless and set(failed.explainer) <= {"oracle"} and (failed.stage == "explain").all()
    assert failed.message.str.contains("all 16 visual scores are equal").all()


def test_rerun_skips_finished_rows(tmp_path):
    config = parse_config(small_config(tmp_path, datasets=[{"kind": "synthetic", "limit": 2, "options": {"per_cell": 1}}]))
    first = run(config)
    assert first.rows_written == 6
    again = run(config)
    assert again.rows_written == 0 and again.skipped == 6
    store = RunStore(tmp_path)
    assert (tmp_path / "config.yaml").is_file() and json.loads((tmp_path / "environment.json").read_text())["versions"]["torch"]
    assert not list(store.rows_dir.glob(".*.tmp"))
    # a new explainer in the config runs only for it
    config.explainers.append(type(config.explainers[0])(name="input_gradients"))
    added = run(config)
    assert added.rows_written == 2 and len(store.read_rows()) == 8


def start_run_until(tmp_path, condition):
    """``synfaith run`` of the small config in a subprocess, returned once ``condition(process)`` holds while it runs."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(small_config(tmp_path / "run")))
    command = [sys.executable, "-m", "synfaith.cli", "run", str(path), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and not condition(process):
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before the test could act on it"
    return process, command, path


def test_sigkill_mid_run_then_rerun_gives_exactly_the_uninterrupted_rows(reference_rows, tmp_path):
    rows_dir = tmp_path / "run" / "rows"
    process, command, _ = start_run_until(tmp_path, lambda _: len(list(rows_dir.glob("*.parquet"))) >= 2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = RunStore(tmp_path / "run").read_rows()
    assert 0 < len(partial) < 18
    # what a kill in the middle of a write leaves (the kill above lands anywhere): swept on resume
    (rows_dir / ".toy__synthetic__u00001-0123456789ab.parquet.tmp").write_bytes(b"PAR1 half a shard")
    finished = subprocess.run(command, capture_output=True, text=True)  # the SIGKILLed holder left no lock
    assert finished.returncode == 0, finished.stderr
    assert "already done" in finished.stdout
    assert not [p.name for p in (tmp_path / "run").rglob("*.tmp")]
    resumed = RunStore(tmp_path / "run").read_rows()
    assert len(resumed) == 18
    raw_keys = [k for shard in RunStore(tmp_path / "run").shards() for k in pd.read_parquet(shard, columns=list(KEY)).itertuples(index=False)]
    assert len(raw_keys) == len(set(raw_keys)) == 18  # no key written twice (read_rows would hide it)
    assert_same_rows(resumed, reference_rows)


def test_a_second_run_on_a_held_directory_exits_2_naming_the_holder(reference_rows, tmp_path, capsys):
    from synfaith.cli import main

    lock = tmp_path / "run" / ".lock"
    holder, _, path = start_run_until(tmp_path, lambda run: lock.is_file() and f"process {run.pid}" in lock.read_text())
    assert main(["run", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"is in use by process {holder.pid}" in err and "Traceback" not in err
    assert holder.wait(timeout=300) == 0, holder.stderr.read().decode()
    assert_same_rows(RunStore(tmp_path / "run").read_rows(), reference_rows)


def test_shards_share_a_directory_but_not_with_a_whole_run(tmp_path):
    from synfaith.runs.lock import RunDirectoryBusy, RunLock

    with RunLock(tmp_path, (0, 2)), RunLock(tmp_path, (1, 2)):  # two shards side by side
        with pytest.raises(RunDirectoryBusy, match=f"process {os.getpid()}"):
            RunLock(tmp_path, (1, 2)).acquire()  # a second copy of one shard
        with pytest.raises(RunDirectoryBusy, match=f"process {os.getpid()}"):
            RunLock(tmp_path).acquire()  # a whole run while shards write
    with RunLock(tmp_path) as whole:
        assert whole.exclusive
        with pytest.raises(RunDirectoryBusy):
            RunLock(tmp_path, (0, 2)).acquire()


def test_bad_input_becomes_failure_rows_and_good_rows_complete(tmp_path):
    random_image(64, 64, seed=3).save(tmp_path / "good.png")
    (tmp_path / "unreadable.png").write_bytes(b"\x89PNG but not really")
    records = [
        {"id": "good-1", "image": "good.png", "question": "Is there a red circle in the image?", "answer": "no"},
        {"id": "unreadable", "image": "unreadable.png", "question": "Is there a red circle in the image?"},
        {"id": "missing", "question": "Is there a red circle in the image?"},
        {"id": "empty", "image": "good.png", "question": ""},
        {"id": "good-2", "image": "good.png", "question": "How many red shapes are there?", "choices": ["1", "2", "3", "4"]},
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    config = parse_config(
        small_config(
            tmp_path / "run",
            datasets=[{"kind": "jsonl", "name": "mine", "options": {"path": str(tmp_path / "data.jsonl")}}],
            explainers=[{"name": "random"}, {"name": "input_gradients"}],
        )
    )
    summary = run(config)
    rows = RunStore(tmp_path / "run").read_rows().set_index(["instance_id", "explainer"])
    assert summary.rows_written == 10 and summary.failures == 6
    assert (rows.loc["good-1"].status == "ok").all() and (rows.loc["good-2"].status == "ok").all()
    assert rows.loc["good-2"].fsyn.notna().all()
    unreadable = rows.loc[("unreadable", "random")]
    assert unreadable.stage == "prepare" and "cannot read image" in unreadable.message
    assert rows.loc[("missing", "random")].stage == "load" and rows.loc[("missing", "random")].message == "data.jsonl line 3: missing field 'image'"
    assert rows.loc[("empty", "input_gradients")].stage == "load" and "data.jsonl line 4: field 'question' must be a non-empty string" in rows.loc[("empty", "input_gradients")].message
    assert summary.failure_stages == {"load": 4, "prepare": 2}


def test_resuming_refuses_other_metric_settings_and_retries_failures_on_request(tmp_path):
    data = small_config(
        tmp_path,
        datasets=[{"kind": "synthetic", "options": {"per_cell": 3, "families": ["existence"], "subsets": ["synergy"]}}],
        explainers=[{"name": "random"}, {"name": "oracle"}],
    )
    first = run(parse_config(data))
    assert first.failures == 2  # the Oracle on the two "no" instances, which have no planted boxes
    changed = dict(data, metrics={"sii_limit": 1, "steps": 5})
    with pytest.raises(ValueError, match=r"holds rows of other settings — changed: metrics.steps: 11 → 5"):
        run(parse_config(changed))
    again = run(parse_config(data), retry_failed=True)
    assert again.rows_written == first.failures and again.failures == first.failures  # retried, failed again
    rows = RunStore(tmp_path).read_rows()
    assert len(rows) == 6 and rows.groupby("status").size().to_dict() == {"ok": 4, "failed": 2}


def test_shards_together_equal_the_whole_run(reference_rows, tmp_path):
    config = parse_config(small_config(tmp_path))
    parts = [run(config, shard=(i, 2)) for i in range(2)]
    assert [p.units for p in parts] == [3, 3]  # the instances under a metric limit are units of their own
    assert_same_rows(RunStore(tmp_path).read_rows(), reference_rows)


@pytest.mark.slow
def test_ray_executor_rows_equal_the_local_rows(tmp_path):
    ray = pytest.importorskip("ray")
    import torch

    # like with like: each 1-CPU Ray worker runs torch on one thread, so the local reference does too
    # (float32 reductions on two threads round differently, and a difference of probabilities amplifies it)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run(parse_config(small_config(tmp_path / "local")))
    finally:
        torch.set_num_threads(threads)
    local_rows = RunStore(tmp_path / "local").read_rows()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        config = parse_config(
            small_config(tmp_path / "ray", execution={"executor": "ray", "ray_num_gpus": 0, "ray_num_cpus": 1, "ray_workers": 2})
        )
        summary = run(config)
    finally:
        ray.shutdown()
    assert summary.rows_written == 18 and summary.units == 6  # one unit per instance under a metric limit
    rows = RunStore(tmp_path / "ray").read_rows()
    assert rows.worker.nunique() == 2  # two actors wrote shards into the same directory
    assert_same_rows(rows, local_rows)


def test_local_worker_processes_write_the_rows_of_one_process(tmp_path):
    """execution.workers: 2 runs units in two spawned processes (one thread each), same rows as one process."""
    import torch

    def config(directory, workers):
        return parse_config(small_config(
            directory,
            datasets=[{"kind": "synthetic", "limit": 4, "seed": 1, "options": {"per_cell": 1}}],
            explainers=[{"name": "random"}, {"name": "oracle"}],
            execution={"shard_size": 2, "workers": workers},
        ))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # like with like: each worker runs one thread
    try:
        run(config(tmp_path / "one", 1))
    finally:
        torch.set_num_threads(threads)
    summary = run(config(tmp_path / "two", 2))
    assert (summary.rows_written, summary.units, summary.failures) == (8, 4, 0)  # one unit per instance under a metric limit
    rows = RunStore(tmp_path / "two").read_rows()
    assert rows["worker"].nunique() == 2  # both processes wrote rows
    assert_same_rows(rows, RunStore(tmp_path / "one").read_rows())
    again = run(config(tmp_path / "two", 2))
    assert (again.rows_written, again.skipped) == (0, 8)  # resumes like any run


def test_instances_that_run_a_limited_metric_are_units_of_their_own():
    from synfaith.runs import parse_config
    from synfaith.runs.runner import limited_positions, plan_units

    def config(compute, **metrics):
        return parse_config({
            "output_dir": "unused", "models": [{"path": "toy"}], "datasets": [{"kind": "synthetic"}],
            "explainers": [{"name": "random"}], "metrics": {"compute": compute, **metrics}, "execution": {"shard_size": 4},
        })

    heavy = config(["fsyn", "sii", "influence"], sii_limit=3, probe_limit=2)
    assert limited_positions(heavy) == 3
    assert [unit.positions for unit in plan_units(heavy, [range(10)])] == [(0,), (1,), (2,), (3, 4, 5, 6), (7, 8, 9)]
    light = config(["fsyn"])
    assert limited_positions(light) == 0
    assert [unit.positions for unit in plan_units(light, [range(10)])] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]
    unlimited = config(["fsyn", "sii"], sii_limit=None)  # every instance runs the SII: blocks as usual
    assert [len(unit.positions) for unit in plan_units(unlimited, [range(10)])] == [4, 4, 2]
