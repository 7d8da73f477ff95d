"""Are a run's rows the same at this commit as at an earlier one? Values, then cost.

Runs one config twice — with the package at a baseline commit (a temporary ``git worktree``)
and at the working tree — one after the other on this machine with the same torch thread
count, then compares every column that is neither a timing nor a cost column, and reports the
evaluations per instance of each.

    python benchmarks/compare_with_baseline.py --baseline 5800ec8 --config configs/demo.yaml
    python benchmarks/compare_with_baseline.py --baseline 5800ec8 --config configs/demo.yaml \\
        --batch-size 1 --limit 6 --explainers random,oracle,rollout,multishap

Why ``--batch-size 1`` is the exact check: with a shared coalition cache a coalition may be
evaluated in a different batch than before, and float32 matrix products of different batch
sizes round differently (≈1e-7 relative on the toy VLM). One coalition per forward pass makes
every value independent of what else is in its batch, so the rows must then be bit-identical;
at larger batches the script reports the largest difference instead.

Pass ``--baseline-rows DIR`` / ``--new-rows DIR`` to compare run directories that exist.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
KEY = ["model", "dataset", "instance_id", "explainer"]
# the columns that were timings or costs before the metric registry existed (a baseline's rows)
OLD_COST_OR_TIMING = {
    "explain_seconds", "fsyn_seconds", "unimodal_seconds", "sii_seconds", "probe_seconds", "worker",
    "fsyn_evaluations", "unimodal_evaluations", "sii_evaluations", "explain_model_calls",
}


def _run(src: Path, config: dict, out: Path, threads: int) -> float:
    config = dict(config, output_dir=str(out))
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS=str(threads))
    code = f"import sys, torch; torch.set_num_threads({threads}); from synfaith.cli import main; sys.exit(main(['run', {str(path)!r}, '--no-progress']))"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def _rows(run_dir: Path):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(p) for p in sorted((run_dir / "rows").glob("*.parquet"))]
    frame = pa.concat_tables(tables, promote_options="default").to_pandas()
    return frame.sort_values(KEY).reset_index(drop=True) if not frame.empty else pd.DataFrame()


def _equal(x, y) -> tuple[bool, float]:
    """Whether two cells are identical, and their largest absolute difference when numeric."""
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        a, b = np.asarray(x), np.asarray(y)
        if a.dtype.kind in "OUS" or b.dtype.kind in "OUS":
            return a.tolist() == b.tolist(), 0.0
        if a.shape != b.shape:
            return False, float("inf")
        same = np.array_equal(a, b, equal_nan=True)
        return same, 0.0 if same or a.size == 0 else float(np.nanmax(np.abs(a.astype(float) - b.astype(float))))
    if isinstance(x, float) and isinstance(y, float):
        if np.isnan(x) and np.isnan(y):
            return True, 0.0
        return x == y, abs(x - y)
    if x is None or y is None or (isinstance(x, float) and np.isnan(x)) or (isinstance(y, float) and np.isnan(y)):
        empty = lambda v: v is None or (isinstance(v, float) and np.isnan(v))  # noqa: E731
        return empty(x) and empty(y), 0.0
    return x == y, 0.0


def compare(baseline, new) -> dict:
    """Per value column: how many cells differ and by how much at most."""
    from synfaith.runs.store import cost_columns, timing_columns

    skip = set(timing_columns()) | set(cost_columns()) | OLD_COST_OR_TIMING
    if list(baseline[KEY].itertuples(index=False)) != list(new[KEY].itertuples(index=False)):
        raise SystemExit("the two runs hold different keys")
    report = {}
    for column in baseline.columns:
        if column in skip or column not in new.columns:
            continue
        differing, largest = 0, 0.0
        for x, y in zip(baseline[column].tolist(), new[column].tolist()):
            same, difference = _equal(x, y)
            differing += not same
            largest = max(largest, difference)
        report[column] = {"differing": differing, "max_abs_difference": largest}
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="5800ec8", help="the commit to compare against")
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.yaml"))
    parser.add_argument("--batch-size", type=int, default=None, help="override every model's batch size (1: the exact check)")
    parser.add_argument("--limit", type=int, default=None, help="instances per dataset")
    parser.add_argument("--explainers", default=None, help="comma-separated explainers (default: the config's)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of both runs")
    parser.add_argument("--baseline-rows", default=None, help="an existing baseline run directory (skips that run)")
    parser.add_argument("--new-rows", default=None, help="an existing run directory of this commit (skips that run)")
    parser.add_argument("--json", default=None, help="also write the comparison here")
    args = parser.parse_args(argv)

    config = yaml.safe_load(Path(args.config).read_text())
    for model in config["models"]:
        if args.batch_size:
            model["batch_size"] = args.batch_size
    if args.limit is not None:
        for dataset in config["datasets"]:
            dataset["limit"] = args.limit
    if args.explainers:
        config["explainers"] = [{"name": n} for n in args.explainers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="synfaith-compare-"))
    seconds = {}
    baseline_dir = Path(args.baseline_rows) if args.baseline_rows else work / "baseline"
    if not args.baseline_rows:
        tree = work / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.baseline], check=True, capture_output=True)
        try:
            seconds["baseline"] = _run(tree / "src", config, baseline_dir, args.threads)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    new_dir = Path(args.new_rows) if args.new_rows else work / "new"
    if not args.new_rows:
        seconds["new"] = _run(ROOT / "src", config, new_dir, args.threads)

    baseline, new = _rows(baseline_dir), _rows(new_dir)
    report = compare(baseline, new)
    differing = {c: r for c, r in report.items() if r["differing"]}
    instances = baseline.drop_duplicates(KEY[:3])
    # before: every metric ran on a fresh game and MultiSHAP on its own, so their evaluations add up
    # (plus the redundancy profile's 4); after: one cache per instance serves them all
    game_based = baseline["explain_model_calls"].where(baseline["explainer"] == "multishap", 0).rename("multishap")
    spent = baseline[[c for c in ("fsyn_evaluations", "unimodal_evaluations", "sii_evaluations") if c in baseline]].join(game_based)
    before = spent.groupby([baseline[k] for k in KEY[:3]]).sum().sum(axis=1) + 4 * baseline.drop_duplicates(KEY[:3])["v_full"].notna().mean()
    after = new.drop_duplicates(KEY[:3])["instance_evaluations"]
    summary = {
        "rows": len(new),
        "instances": len(instances),
        "value_columns_compared": len(report),
        "value_columns_differing": differing,
        "evaluations_per_instance_before": float(before.mean()) if len(before) else None,
        "evaluations_per_instance_after": float(after.mean()) if len(after) else None,
        "seconds": seconds,
        "baseline_dir": str(baseline_dir),
        "new_dir": str(new_dir),
    }
    print(json.dumps(summary, indent=2, default=float))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
