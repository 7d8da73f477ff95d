"""Runner throughput on the toy VLM: (instance × explainer) rows per minute, and where the time goes.

Runs the shipped toy VLM on synthetic instances with every explainer and the F_syn, unimodal
and redundancy metrics (no SII ground truth, which is a validation tool, not the benchmark),
timing every forward pass of the model with hooks; reports rows per minute and the share of
wall time spent inside model forward passes (the rest: preprocessing, explainer arithmetic,
metrics bookkeeping, Parquet writes).

    python benchmarks/run_throughput.py [--instances 18] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=18)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from synfaith.explainers.registry import DEFAULT_EXPLAINERS
    from synfaith.runs import RunStore, parse_config
    from synfaith.runs import runner as runner_module

    output = tempfile.mkdtemp(prefix="synfaith-throughput-")
    config = parse_config(
        {
            "output_dir": output,
            "models": [{"path": "toy", "name": "toy", "device": "cpu", "batch_size": 32}],
            "datasets": [{"kind": "synthetic", "limit": args.instances, "seed": 0, "options": {"per_cell": 4}}],
            "explainers": [{"name": name} for name in DEFAULT_EXPLAINERS],
            "metrics": {"compute": ["redundancy", "unimodal", "fsyn"]},
            "execution": {"progress": False},
        }
    )
    forward_seconds = 0.0
    forward_calls = 0
    load_adapter = runner_module.load_adapter

    def timed_adapter(*a, **k):
        adapter = load_adapter(*a, **k)
        starts: list[float] = []

        def before(module, inputs):
            starts.append(time.perf_counter())

        def after(module, inputs, output):
            nonlocal forward_seconds, forward_calls
            forward_seconds += time.perf_counter() - starts.pop()
            forward_calls += 1

        adapter.model.register_forward_pre_hook(before)
        adapter.model.register_forward_hook(after)
        return adapter

    runner_module.load_adapter = timed_adapter
    start = time.perf_counter()
    summary = runner_module.run(config)
    wall = time.perf_counter() - start
    rows = RunStore(output).read_rows()
    print(f"toy VLM, {args.instances} instances × {len(DEFAULT_EXPLAINERS)} explainers, {args.threads} threads")
    print(f"rows: {summary.rows_written} ({summary.failures} failures) in {wall:.1f} s → {60 * summary.rows_written / wall:.0f} rows/min")
    print(f"model forward passes: {forward_calls}, {forward_seconds:.1f} s = {100 * forward_seconds / wall:.0f}% of wall time")
    per_explainer = rows.groupby("explainer")[["explain_seconds", "fsyn_seconds", "unimodal_seconds"]].mean() * 1000
    print("\nmean ms per row:")
    print(per_explainer.round(1).to_string())


if __name__ == "__main__":
    main()
